"""Issue 27 over the synthesized JSON, for every env of the shipped table and for a generated
table whose service names overlap (`web` and `web-cfg`): what task roles may do to agent
queues, subscriptions and the env key, and what the reaper may do instead."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace
from typing import Any

import pytest

from settings.services import ServiceSpec
from tests.synth_helpers import SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
FORBIDDEN_IN_TASKS = {
    "sns:Unsubscribe",
    "sqs:DeleteQueue",
    "ecs:DescribeTasks",
    "kms:GenerateDataKey",
}
OVERLAP = ServiceSpec(
    name="web-cfg",
    cpu=256,
    memory=512,
    secrets=("token",),
    image="public.ecr.aws/docker/library/busybox:1.36",
)
"""A valid name that the old `<env>-web-cfg-*` grant of `web` matched (queues and DLQ)."""


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Any, SynthOutput]:
    """dev plus a service named like web's old queue prefix, synthesized by main.build_app."""
    from main import build_app

    env = replace(ENVS["dev"], services=(*ENVS["dev"].services, OVERLAP))
    outdir = tmp_path_factory.mktemp("fanout-generated")
    build_app([env], str(outdir)).synth()
    return env, SynthOutput(outdir)


def _task_statements(stack, env: str, service: str) -> list[dict[str, Any]]:
    (role_id,) = [
        k
        for k, v in stack.resources("aws_iam_role").items()
        if v["name"] == f"{env}-{service}-task"
    ]
    ref = stack.ref("aws_iam_role", role_id, "id")
    return [
        s
        for p in stack.resources("aws_iam_role_policy").values()
        if p["role"] == ref
        for s in json.loads(p["policy"])["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _cases(synth, generated):
    yield from ((e, synth) for e in ENVS.values())
    yield generated


def _sqs_names(out: SynthOutput, env) -> dict[str, set[str]]:
    """Per service: every SQS name it owns (agent queues of any task id, its DLQ, jobs)."""
    config, services = out.stack(f"config-{env.name}"), out.stack(f"services-{env.name}")
    names = {v["name"] for s in (config, services) for v in s.resources("aws_sqs_queue").values()}
    owned: dict[str, set[str]] = {}
    for spec in env.services:
        mine = {
            n
            for n in names
            if n.startswith(f"{env.name}-{spec.name}-")
            and not any(
                n.startswith(f"{env.name}-{o.name}-") and len(o.name) > len(spec.name)
                for o in env.services
            )
        }
        owned[spec.name] = mine | {f"{env.name}-{spec.name}_cfg_{'0' * 32}"}
    owned["platform"] = {n for n in names if n.startswith(f"{env.name}-platform-")}
    return owned


def test_task_roles_cannot_delete_queues_unsubscribe_or_describe_tasks(synth, generated):
    for env, out in _cases(synth, generated):
        stack = out.stack(f"services-{env.name}")
        for spec in env.services:
            granted = {
                a
                for s in _task_statements(stack, env.name, spec.name)
                if s["Effect"] == "Allow"
                for a in _actions(s)
            }
            assert not granted & FORBIDDEN_IN_TASKS, (env.name, spec.name)
            assert not any(
                r == "*"
                for s in _task_statements(stack, env.name, spec.name)
                if any(a.startswith(("sqs:", "sns:", "kms:")) for a in _actions(s))
                for r in s["Resource"]
            ), (env.name, spec.name)


def test_agent_queue_patterns_reach_no_other_services_queues(synth, generated):
    """Item 5: `<env>-web_cfg_*` must not match `web-cfg`'s queues or DLQ (nor anyone's)."""
    for env, out in _cases(synth, generated):
        stack, owned = out.stack(f"services-{env.name}"), _sqs_names(out, env)
        for spec in env.services:
            patterns = [
                r.rsplit(":", 1)[-1]
                for s in _task_statements(stack, env.name, spec.name)
                if any(a.startswith("sqs:") for a in _actions(s))
                for r in s["Resource"]
                if r.startswith("arn:aws:sqs:")
            ]
            assert patterns, spec.name
            for other, names in owned.items():
                if other == spec.name:
                    continue
                hits = {n for n in names for p in patterns if fnmatch.fnmatchcase(n, p)}
                assert not hits, (env.name, spec.name, other, hits)


def test_env_key_is_decrypted_only_via_its_service_and_for_own_resources(synth, generated):
    """Item 7: every kms:Decrypt on the env key names the service it goes through, and SQS and
    Secrets Manager use are bound to the service's own queues and secret ARNs."""
    for env, out in _cases(synth, generated):
        stack = out.stack(f"services-{env.name}")
        for spec in env.services:
            kms = {
                s["Sid"]: s
                for s in _task_statements(stack, env.name, spec.name)
                if any(a.startswith("kms:") for a in _actions(s))
                and not s["Sid"].startswith("EcsExec")
            }
            assert all(_actions(s) == ["kms:Decrypt"] for s in kms.values())
            via = {sid: s["Condition"]["StringEquals"]["kms:ViaService"] for sid, s in kms.items()}
            assert via["DecryptOwnQueue"] == f"sqs.{env.region}.amazonaws.com"
            queue_context = kms["DecryptOwnQueue"]["Condition"]["StringLike"]
            assert queue_context == {
                "kms:EncryptionContext:aws:sqs:arn": (
                    f"arn:aws:sqs:{env.region}:{env.account_id}:{env.name}-{spec.name}_cfg_*"
                )
            }
            secrets = kms["DecryptOwnSecrets"]["Condition"]["StringEquals"]
            assert secrets["kms:ViaService"] == f"secretsmanager.{env.region}.amazonaws.com"
            reads = [
                s
                for s in _task_statements(stack, env.name, spec.name)
                if s["Sid"] == "ReadOwnSecrets"
            ]
            assert sorted(secrets["kms:EncryptionContext:SecretARN"]) == sorted(
                reads[0]["Resource"]
            )
            if spec.config_profile is not None:
                assert via["DecryptHostedConfig"] == f"appconfig.{env.region}.amazonaws.com"


def test_task_definitions_set_a_safety_refresh(synth, generated):
    """Item 1's last line of defence: every agent refetches periodically."""
    for env, out in _cases(synth, generated):
        stack = out.stack(f"services-{env.name}")
        for td in stack.resources("aws_ecs_task_definition").values():
            containers = json.loads(td["container_definitions"])
            (agent,) = [c for c in containers if c["name"] == "config-agent"]
            variables = {v["name"]: v["value"] for v in agent["environment"]}
            assert variables["CONFIG_AGENT_SAFETY_REFRESH_SECONDS"] == str(
                env.pipeline.agent_safety_refresh_seconds
            )


def test_the_reaper_is_the_only_one_that_removes_agent_queues(synth, generated):
    """Item 3/4: the config stack's reaper runs on STOPPED tasks of this env's cluster and on
    a schedule, with delete rights on agent queues only, a KMS-encrypted log group, a DLQ and
    reserved concurrency."""
    for env, out in _cases(synth, generated):
        config = out.stack(f"config-{env.name}")
        (fn_id, fn) = config.one("aws_lambda_function")
        cluster = f"arn:aws:ecs:{env.region}:{env.account_id}:cluster/{env.name}-platform-cluster"
        variables = fn["environment"]["variables"]
        assert variables["REAPER_CLUSTER_ARN"] == cluster
        assert variables["REAPER_QUEUE_PREFIXES"].split(",") == [
            f"{env.name}-{s.name}_cfg_" for s in env.services
        ]
        assert (
            fn["reserved_concurrent_executions"] >= 1 and "target_arn" in fn["dead_letter_config"]
        )
        rules = {v["name"]: v for v in config.resources("aws_cloudwatch_event_rule").values()}
        pattern = json.loads(
            rules[f"{env.name}-platform-orphan-reaper-task-stopped"]["event_pattern"]
        )
        assert pattern["detail"] == {"clusterArn": [cluster], "lastStatus": ["STOPPED"]}
        assert rules[f"{env.name}-platform-orphan-reaper-sweep"]["schedule_expression"] == (
            f"rate({env.pipeline.orphan_sweep_minutes} minutes)"
        )
        (group,) = [
            g
            for g in config.resources("aws_cloudwatch_log_group").values()
            if g["name"] == f"/aws/lambda/{fn['function_name']}"
        ]
        assert group["kms_key_id"].startswith("${aws_kms_key.") and group["retention_in_days"]
        (policy,) = [
            json.loads(p["policy"])["Statement"]
            for p in config.resources("aws_iam_role_policy").values()
        ]
        deletes = [s for s in policy if "sqs:DeleteQueue" in _actions(s)]
        assert [sorted(s["Resource"]) for s in deletes] == [
            sorted(
                f"arn:aws:sqs:{env.region}:{env.account_id}:{env.name}-{s.name}_cfg_*"
                for s in env.services
            )
        ]
        describe = [s for s in policy if "ecs:DescribeTasks" in _actions(s)]
        assert describe[0]["Resource"] == [
            f"arn:aws:ecs:{env.region}:{env.account_id}:task/{env.name}-platform-cluster/*"
        ]
        assert fn_id
