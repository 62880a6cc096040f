"""`bootstrap-<env>`: the state bucket and the deploy role, synthesized for an env with a role
(in a child process, as every synth here), for both phases of its own state."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modules.deploy_policy import (
    MANAGED_POLICIES,
    deploy_scope,
    deploy_statements,
    role_name_problem,
    service_of,
)
from tests.tables import SAMPLE as ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]
ENVS = {e.name: e for e in ENVIRONMENTS}
SYNTH = """
import sys
from dataclasses import replace
from pathlib import Path
from tests.tables import SAMPLE as ENVIRONMENTS
from settings.schema import DeployRole
from scripts.bootstrap import synth
env = ENVIRONMENTS[0]
env = replace(env, deploy_role=DeployRole(
    role_arn=f"arn:aws:iam::{env.account_id}:role/ci/ecs-cdktf-deploy", external_id="pipe-7"))
synth(env, sys.argv[1], Path(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> dict[str, dict]:
    """{backend: bootstrap-dev's cdk.tf.json}; both in one child process each."""
    docs = {}
    for backend in ("local", "s3"):
        out = tmp_path_factory.mktemp(backend)
        subprocess.run(
            [sys.executable, "-c", SYNTH, backend, str(out)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        docs[backend] = json.loads((out / "stacks" / "bootstrap-dev" / "cdk.tf.json").read_text())
        docs[backend]["outdir"] = str(out / "stacks")
    return docs


def _one(doc: dict, rtype: str) -> dict:
    (resource,) = doc["resource"][rtype].values()
    return resource


def test_the_state_bucket_is_versioned_private_tls_only_and_keeps_current_state(bootstrap):
    doc = bootstrap["local"]
    bucket = _one(doc, "aws_s3_bucket")
    assert bucket["bucket"] == ENVS["dev"].state.bucket and bucket["force_destroy"] is False
    assert _one(doc, "aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"
    block = _one(doc, "aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    owner = _one(doc, "aws_s3_bucket_ownership_controls")["rule"]["object_ownership"]
    assert owner == "BucketOwnerEnforced"
    (rule,) = _one(doc, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"
    (deny,) = json.loads(_one(doc, "aws_s3_bucket_policy")["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    (lifecycle,) = _one(doc, "aws_s3_bucket_lifecycle_configuration")["rule"]
    assert "expiration" not in lifecycle, "current state objects must never expire"
    assert lifecycle["noncurrent_version_expiration"][0]["noncurrent_days"] > 0


def test_its_own_state_starts_local_then_lives_outside_the_deploy_role_keys(bootstrap):
    local = bootstrap["local"]["terraform"]["backend"]
    assert local["local"]["path"].endswith("bootstrap-state/dev.tfstate")
    s3 = bootstrap["s3"]["terraform"]["backend"]["s3"]
    assert s3["key"] == "ecs-cdktf/bootstrap/dev.tfstate"
    assert s3["encrypt"] is True and s3["use_lockfile"] is True and "assume_role" not in s3
    statements = json.loads(_one(bootstrap["s3"], "aws_iam_role_policy")["policy"])["Statement"]
    object_arns = [
        r
        for st in statements
        if "s3:PutObject" in st["Action"]
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    ]
    assert object_arns == [f"arn:aws:s3:::{s3['bucket']}/ecs-cdktf/dev/*"]
    assert not fnmatch.fnmatch(f"arn:aws:s3:::{s3['bucket']}/{s3['key']}", object_arns[0])
    assert bootstrap["s3"]["resource"] == bootstrap["local"]["resource"], "only the backend moves"


def test_the_deploy_role_is_the_settings_role_trusting_the_account_with_its_external_id(bootstrap):
    role = _one(bootstrap["local"], "aws_iam_role")
    assert (role["name"], role["path"]) == ("ecs-cdktf-deploy", "/ci/")
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "pipe-7"}}


def test_checkov_finds_nothing_unjustified(bootstrap):
    proc = subprocess.run(
        [sys.executable, "scripts/checkov_scan.py", bootstrap["local"]["outdir"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout and "0 stale skips" in proc.stdout


@pytest.mark.parametrize("env", ENVS)
def test_the_policy_covers_every_resource_type_the_env_stacks_manage(synth, env):
    """A stack that starts using a new AWS service fails here until the role may manage it."""
    statements = deploy_statements(deploy_scope(ENVS[env]))
    granted = {
        a.split(":")[0]
        for st in statements
        if st["Effect"] == "Allow"
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    types = {
        t
        for name in synth.stack_names
        if name.endswith(f"-{env}")
        for t in synth.stack(name).doc.get("resource", {})
    }
    unknown = sorted(t for t in types if service_of(t) is None)
    assert not unknown, f"map these to an IAM service in modules/deploy_policy.py: {unknown}"
    assert {service_of(t) for t in types} <= granted


@pytest.mark.parametrize("env", ENVS)
def test_managed_policy_attachments_are_limited_to_those_the_stacks_attach(synth, env):
    attached = {
        r["policy_arn"]
        for name in synth.stack_names
        if name.endswith(f"-{env}")
        for r in synth.stack(name).resources("aws_iam_role_policy_attachment").values()
    }
    assert attached and attached <= set(MANAGED_POLICIES)
    (deny,) = [st for st in deploy_statements(deploy_scope(ENVS[env])) if st["Effect"] == "Deny"]
    assert set(deny["Condition"]["ArnNotEquals"]["iam:PolicyARN"]) == set(MANAGED_POLICIES)


ARNS = {  # Terraform type: (name attribute, the ARN AWS gives it; {n} name, {r} region, {a} acct)
    "aws_iam_role": ("name", "arn:aws:iam::{a}:role/{n}"),
    "aws_iam_instance_profile": ("name", "arn:aws:iam::{a}:instance-profile/{n}"),
    "aws_sqs_queue": ("name", "arn:aws:sqs:{r}:{a}:{n}"),
    "aws_sns_topic": ("name", "arn:aws:sns:{r}:{a}:{n}"),
    "aws_secretsmanager_secret": ("name", "arn:aws:secretsmanager:{r}:{a}:secret:{n}-AbCdEf"),
    "aws_ssm_parameter": ("name", "arn:aws:ssm:{r}:{a}:parameter{n}"),
    "aws_ecs_cluster": ("name", "arn:aws:ecs:{r}:{a}:cluster/{n}"),
    "aws_ecs_service": ("name", "arn:aws:ecs:{r}:{a}:service/{e}-platform-cluster/{n}"),
    "aws_ecs_capacity_provider": ("name", "arn:aws:ecs:{r}:{a}:capacity-provider/{n}"),
    "aws_ecs_task_definition": ("family", "arn:aws:ecs:{r}:{a}:task-definition/{n}:1"),
    "aws_cloudwatch_log_group": ("name", "arn:aws:logs:{r}:{a}:log-group:{n}"),
    "aws_cloudwatch_metric_alarm": ("alarm_name", "arn:aws:cloudwatch:{r}:{a}:alarm:{n}"),
    "aws_cloudwatch_event_rule": ("name", "arn:aws:events:{r}:{a}:rule/{n}"),
    "aws_ecr_repository": ("name", "arn:aws:ecr:{r}:{a}:repository/{n}"),
    "aws_s3_bucket": ("bucket", "arn:aws:s3:::{n}"),
    "aws_lb": ("name", "arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/{n}/0abc"),
    "aws_lb_target_group": ("name", "arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/{n}/0abc"),
    "aws_cloudtrail": ("name", "arn:aws:cloudtrail:{r}:{a}:trail/{n}"),
    "aws_autoscaling_group": (
        "name",
        "arn:aws:autoscaling:{r}:{a}:autoScalingGroup:0-1:autoScalingGroupName/{n}",
    ),
}


@pytest.mark.parametrize("env", ENVS)
def test_every_named_resource_of_the_env_falls_inside_the_role_scope(synth, env):
    """The ARN of each resource the stacks name matches one of the role's name patterns."""
    settings = ENVS[env]
    (named,) = [
        st for st in deploy_statements(deploy_scope(settings)) if st.get("Sid") == "NamedResources"
    ]
    checked = 0
    for stack in (s for s in synth.stack_names if s.endswith(f"-{env}")):
        for rtype, (attribute, template) in ARNS.items():
            for resource in synth.stack(stack).resources(rtype).values():
                name = resource[attribute]
                if "${" in name:
                    continue  # a generated name (none today); nothing to match
                arn = template.format(n=name, r=settings.region, a=settings.account_id, e=env)
                assert any(fnmatch.fnmatchcase(arn, p) for p in named["Resource"]), arn
                checked += 1
    assert checked > 20


def test_a_deploy_role_inside_the_env_prefix_is_refused():
    assert "could rewrite itself" in role_name_problem("dev", "/dev-deploy")
    assert role_name_problem("dev", "/ci/ecs-cdktf-deploy") is None
