"""ECS Exec auditing: sessions encrypted with their own key and logged, wherever exec is on."""

from __future__ import annotations

import json

import pytest

from tests.synth_helpers import remote_output
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
EXEC_ON = [e.name for e in ENVIRONMENTS if e.services_settings.ecs_exec_enabled]
EXEC_OFF = [e.name for e in ENVIRONMENTS if not e.services_settings.ecs_exec_enabled]
CHANNELS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]


def _task_statements(stack, env, service):
    (role_id,) = [
        k
        for k, v in stack.resources("aws_iam_role").items()
        if v["name"] == f"{env}-{service}-task"
    ]
    return [
        st
        for p in stack.resources("aws_iam_role_policy").values()
        if p["role"] == stack.ref("aws_iam_role", role_id, "id")
        for st in json.loads(p["policy"])["Statement"]
    ]


def test_the_shipped_table_allows_exec_in_dev_only():
    assert EXEC_ON == ["dev"]


@pytest.mark.parametrize("env", EXEC_ON)
def test_cluster_encrypts_and_logs_every_exec_session(synth, env):
    settings = ENVS[env]
    cluster = synth.stack(f"cluster-{env}")
    _, ecs_cluster = cluster.one("aws_ecs_cluster")
    key_id, key = cluster.one("aws_kms_key")
    group_id, group = cluster.one("aws_cloudwatch_log_group")
    config = ecs_cluster["configuration"]["execute_command_configuration"]
    assert config["kms_key_id"] == cluster.ref("aws_kms_key", key_id, "arn")
    assert config["logging"] == "OVERRIDE"
    assert config["log_configuration"] == {
        "cloud_watch_log_group_name": cluster.ref("aws_cloudwatch_log_group", group_id, "name"),
        "cloud_watch_encryption_enabled": True,
    }
    assert group["name"] == f"/ecs/{env}-platform-exec"
    assert group["kms_key_id"] == cluster.ref("aws_kms_key", key_id, "arn")
    assert group["retention_in_days"] == settings.services_settings.exec_audit_retention_days
    assert key["enable_key_rotation"] is True
    _, alias = cluster.one("aws_kms_alias")
    assert alias["name"] == f"alias/{env}-platform-exec"
    # CloudWatch Logs may use the key for this log group only.
    (logs,) = [
        st
        for st in json.loads(key["policy"])["Statement"]
        if st.get("Principal") == {"Service": f"logs.{settings.region}.amazonaws.com"}
    ]
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                f"arn:aws:logs:{settings.region}:{settings.account_id}:log-group:{group['name']}"
            )
        }
    }


@pytest.mark.parametrize(
    ("env", "service"), [(e, s.name) for e in EXEC_ON for s in ENVS[e].services]
)
def test_tasks_get_the_session_channels_and_only_this_keys_and_logs_grants(synth, env, service):
    settings = ENVS[env]
    stack = synth.stack(f"services-{env}")
    cluster = synth.stack(f"cluster-{env}")
    key_id, _ = cluster.one("aws_kms_key")
    _, group = cluster.one("aws_cloudwatch_log_group")
    (svc,) = [
        v for v in stack.resources("aws_ecs_service").values() if v["name"] == f"{env}-{service}"
    ]
    assert svc["enable_execute_command"] is True
    by_sid = {
        st["Sid"]: st
        for st in _task_statements(stack, env, service)
        if st["Sid"].startswith("EcsExec")
    }
    assert set(by_sid) == {
        "EcsExec",
        "EcsExecDecryptSessions",
        "EcsExecWriteSessionLog",
        "EcsExecFindSessionLog",
    }
    assert (by_sid["EcsExec"]["Action"], by_sid["EcsExec"]["Resource"]) == (CHANNELS, ["*"])
    decrypt = by_sid["EcsExecDecryptSessions"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert [remote_output(synth, stack, r) for r in decrypt["Resource"]] == [
        cluster.ref("aws_kms_key", key_id, "arn")
    ]
    write = by_sid["EcsExecWriteSessionLog"]
    assert write["Action"] == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    assert write["Resource"] == [
        f"arn:aws:logs:{settings.region}:{settings.account_id}:log-group:{group['name']}:*"
    ]
    assert by_sid["EcsExecFindSessionLog"]["Action"] == ["logs:DescribeLogGroups"]


@pytest.mark.parametrize("env", EXEC_OFF)
def test_no_exec_no_exec_grants_or_audit_resources(synth, env):
    cluster = synth.stack(f"cluster-{env}")
    _, ecs_cluster = cluster.one("aws_ecs_cluster")
    assert "configuration" not in ecs_cluster
    assert not cluster.resources("aws_kms_key") and not cluster.resources(
        "aws_cloudwatch_log_group"
    )
    stack = synth.stack(f"services-{env}")
    for spec in ENVS[env].services:
        assert not [
            st for st in _task_statements(stack, env, spec.name) if st["Sid"].startswith("EcsExec")
        ]
