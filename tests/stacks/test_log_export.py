"""Container log export to OpenSearch through Firehose, in every destination shape (domain,
Serverless collection, VPC domain with and without its security group), over tables of the
tests' own: the synthesized JSON, least privilege, checkov and the IAM lint."""

from __future__ import annotations

import json

import pytest

from modules.task_definition import FLUENT_BIT_IMAGE, LOG_ROUTER_CONTAINER
from settings.log_export import OpenSearchLogExport, OpenSearchVpcAccess
from tests.stacks.log_export_scans import (
    assert_checkov_clean,
    assert_iam_lint_clean,
    copy_stacks,
    synth_shapes,
)
from tests.synth_helpers import Stack, SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

BASE = ENVIRONMENTS[0]
REGION, ACCOUNT = BASE.region, BASE.account_id
DOMAIN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs"
COLLECTION_ID = "abc123def456ghi789jk"
COLLECTION = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/{COLLECTION_ID}"
ENDPOINT = f"https://{COLLECTION_ID}.{REGION}.aoss.amazonaws.com"
DOMAIN_SG = "sg-0123456789abcdef0"
SHAPES = {
    "logsdomain": OpenSearchLogExport(arn=DOMAIN, index="app-logs", backup_retention_days=14),
    "logsaoss": OpenSearchLogExport(arn=COLLECTION, collection_endpoint=ENDPOINT),
    "logsvpc": OpenSearchLogExport(arn=DOMAIN, vpc=OpenSearchVpcAccess(DOMAIN_SG)),
    "logsvpccidr": OpenSearchLogExport(arn=DOMAIN, vpc=OpenSearchVpcAccess()),
}
EXPORTING = {
    "logsdomain": {"web"},
    "logsaoss": {"web", "worker"},
    "logsvpc": {"worker"},
    "logsvpccidr": {"web"},
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> SynthOutput:
    """Every shape, synthesized by main.build_app into one output."""
    return synth_shapes(BASE, SHAPES, EXPORTING, tmp_path_factory.mktemp("log-export"))


def _policy(stack: Stack, role_name: str) -> list[dict]:
    (role_id,) = [k for k, v in stack.resources("aws_iam_role").items() if v["name"] == role_name]
    return [
        st
        for p in stack.resources("aws_iam_role_policy").values()
        if p["role"] == stack.ref("aws_iam_role", role_id, "id")
        for st in json.loads(p["policy"])["Statement"]
    ]


def _stream(stack: Stack) -> tuple[str, dict, dict]:
    stream_id, stream = stack.one("aws_kinesis_firehose_delivery_stream")
    block = stream.get("opensearch_configuration") or stream["opensearchserverless_configuration"]
    return stream_id, stream, block


def _containers(stack: Stack, family: str) -> dict[str, dict]:
    (task,) = [
        v for v in stack.resources("aws_ecs_task_definition").values() if v["family"] == family
    ]
    return {c["name"]: c for c in json.loads(task["container_definitions"])} | {"": task}


@pytest.mark.parametrize("env", SHAPES)
def test_stream_delivers_to_the_destination_encrypted_with_its_own_key(exported, env):
    stack, export = exported.stack(f"services-{env}"), SHAPES[env]
    _stream_id, stream, block = _stream(stack)
    key_id, key = stack.one("aws_kms_key")
    key_arn = stack.ref("aws_kms_key", key_id, "arn")
    assert stream["name"] == f"{env}-platform-logs"
    assert stream["server_side_encryption"] == {
        "enabled": True,
        "key_type": "CUSTOMER_MANAGED_CMK",
        "key_arn": key_arn,
    }
    assert key["enable_key_rotation"] is True
    if export.serverless:
        assert stream["destination"] == "opensearchserverless"
        assert block["collection_endpoint"] == ENDPOINT and "index_rotation_period" not in block
    else:
        assert stream["destination"] == "opensearch"
        assert block["domain_arn"] == DOMAIN and block["index_rotation_period"] == "OneDay"
    assert block["index_name"] == export.index
    assert block["buffering_interval"] == export.buffer_interval_seconds
    ((role_id, role),) = [
        (k, v)
        for k, v in stack.resources("aws_iam_role").items()
        if v["name"] == f"{env}-platform-logs"
    ]
    assert block["role_arn"] == stack.ref("aws_iam_role", role_id, "arn")
    assert json.loads(role["assume_role_policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
        }
    ]


@pytest.mark.parametrize("env", SHAPES)
def test_failed_documents_go_to_a_private_encrypted_versioned_expiring_bucket(exported, env):
    stack, export = exported.stack(f"services-{env}"), SHAPES[env]
    _, _, block = _stream(stack)
    key_id, _ = stack.one("aws_kms_key")
    bucket_id, bucket = stack.one("aws_s3_bucket")
    assert block["s3_backup_mode"] == "FailedDocumentsOnly"
    backup = block["s3_configuration"]
    assert backup["bucket_arn"] == stack.ref("aws_s3_bucket", bucket_id, "arn")
    assert backup["kms_key_arn"] == stack.ref("aws_kms_key", key_id, "arn")
    assert bucket["bucket"] == f"{env}-platform-logs-failed-{ACCOUNT}"
    bucket_ref = stack.ref("aws_s3_bucket", bucket_id, "id")
    ((_, sse),) = stack.resources("aws_s3_bucket_server_side_encryption_configuration").items()
    assert sse["bucket"] == bucket_ref
    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": stack.ref("aws_kms_key", key_id, "arn"),
    }
    _, versioning = stack.one("aws_s3_bucket_versioning")
    assert versioning["versioning_configuration"] == {"status": "Enabled"}
    _, block_public = stack.one("aws_s3_bucket_public_access_block")
    assert all(
        block_public[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    _, lifecycle = stack.one("aws_s3_bucket_lifecycle_configuration")
    assert lifecycle["rule"][0]["expiration"] == [{"days": export.backup_retention_days}]
    _, policy = stack.one("aws_s3_bucket_policy")
    (deny,) = json.loads(policy["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


@pytest.mark.parametrize("env", SHAPES)
def test_delivery_errors_are_logged_to_existing_streams_of_an_encrypted_group(exported, env):
    stack = exported.stack(f"services-{env}")
    _, _, block = _stream(stack)
    ((group_id, group),) = [
        (k, v)
        for k, v in stack.resources("aws_cloudwatch_log_group").items()
        if v["name"].startswith("/aws/kinesisfirehose/")
    ]
    key_id, key = stack.one("aws_kms_key")
    assert group["kms_key_id"] == stack.ref("aws_kms_key", key_id, "arn")
    streams = {
        v["name"]
        for v in stack.resources("aws_cloudwatch_log_stream").values()
        if v["log_group_name"] == stack.ref("aws_cloudwatch_log_group", group_id, "name")
    }
    for options in (
        block["cloudwatch_logging_options"],
        block["s3_configuration"]["cloudwatch_logging_options"],
    ):
        assert options["enabled"] is True and options["log_stream_name"] in streams
    (logs,) = [
        st
        for st in json.loads(key["policy"])["Statement"]
        if st.get("Principal") == {"Service": f"logs.{REGION}.amazonaws.com"}
    ]
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group['name']}"
            )
        }
    }


@pytest.mark.parametrize("env", SHAPES)
def test_firehose_role_reaches_only_this_destination_and_index(exported, env):
    stack, export = exported.stack(f"services-{env}"), SHAPES[env]
    statements = {st["Sid"]: st for st in _policy(stack, f"{env}-platform-logs")}
    actions = {a for st in statements.values() for a in st["Action"]}
    if export.serverless:
        assert statements["WriteCollection"]["Action"] == ["aoss:APIAccessAll"]
        assert statements["WriteCollection"]["Resource"] == [COLLECTION]
        assert not any(a.startswith("es:") for a in actions)
    else:
        assert not any(a.startswith("aoss:") for a in actions)
        write = statements["WriteIndex"]
        assert sorted(write["Action"]) == ["es:ESHttpPost", "es:ESHttpPut"]
        assert write["Resource"] == [f"{DOMAIN}/_bulk", f"{DOMAIN}/{export.index}*"]
        assert statements["DescribeDomain"]["Resource"] == [DOMAIN]
        assert all(r.startswith(f"{DOMAIN}/") for r in statements["ReadDomainState"]["Resource"])
    for st in statements.values():
        assert st["Effect"] == "Allow"
        if st["Sid"] != "ManageDeliveryEnis":
            assert "*" not in st["Resource"], st
    assert ("ManageDeliveryEnis" in statements) == (export.vpc is not None)
    kms = statements["EncryptBackup"]
    bucket_id, _ = stack.one("aws_s3_bucket")
    bucket_arn = stack.ref("aws_s3_bucket", bucket_id, "arn")
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    # The bucket key's context is the bucket ARN: an object-only condition would deny it.
    assert kms["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]
    }


@pytest.mark.parametrize("env", SHAPES)
def test_only_exporting_services_route_through_firelens_and_may_put_records(exported, env):
    stack = exported.stack(f"services-{env}")
    stream_id, stream, _ = _stream(stack)
    stream_arn = stack.ref("aws_kinesis_firehose_delivery_stream", stream_id, "arn")
    for service in BASE.services:
        containers = _containers(stack, f"{env}-{service.name}")
        app, agent, task = containers[service.name], containers["config-agent"], containers[""]
        grants = [
            st
            for st in _policy(stack, f"{env}-{service.name}-task")
            if any(a.startswith("firehose:") for a in st["Action"])
        ]
        assert agent["logConfiguration"]["logDriver"] == "awslogs"
        if service.name not in EXPORTING[env]:
            assert app["logConfiguration"]["logDriver"] == "awslogs"
            assert LOG_ROUTER_CONTAINER not in containers and grants == []
            continue
        assert app["logConfiguration"] == {
            "logDriver": "awsfirelens",
            "options": {
                "Name": "kinesis_firehose",
                "region": REGION,
                "delivery_stream": stream["name"],
                "time_key": "@timestamp",
                "time_key_format": "%Y-%m-%dT%H:%M:%S.%3N%z",
            },
        }
        assert {"containerName": LOG_ROUTER_CONTAINER, "condition": "START"} in app["dependsOn"]
        router = containers[LOG_ROUTER_CONTAINER]
        assert router["image"] == FLUENT_BIT_IMAGE
        assert router["firelensConfiguration"]["type"] == "fluentbit"
        assert router["logConfiguration"]["logDriver"] == "awslogs"
        assert router["essential"] is True and router["readonlyRootFilesystem"] is True
        assert int(task["memory"]) == sum(c["memory"] for n, c in containers.items() if n)
        assert int(task["cpu"]) == sum(c["cpu"] for n, c in containers.items() if n)
        assert grants == [
            {
                "Effect": "Allow",
                "Action": ["firehose:PutRecordBatch"],
                "Resource": [stream_arn],
                "Sid": "PutLogRecords",
            }
        ]


def test_fluent_bit_is_pinned_to_a_release_from_ecr_public():
    repository, tag = FLUENT_BIT_IMAGE.rsplit(":", 1)
    assert repository == "public.ecr.aws/aws-observability/aws-for-fluent-bit"
    assert tag[0].isdigit() and tag not in ("latest", "stable")


@pytest.mark.parametrize("env", [e for e in SHAPES if SHAPES[e].vpc is None])
def test_public_destinations_get_no_security_group_or_eni_rights(exported, env):
    stack = exported.stack(f"services-{env}")
    _, _, block = _stream(stack)
    assert "vpc_config" not in block
    assert not [
        v for v in stack.resources("aws_security_group").values() if v["name"].endswith("-firehose")
    ]


@pytest.mark.parametrize("env", ["logsvpc", "logsvpccidr"])
def test_vpc_domain_is_reached_from_a_group_that_only_sends_https(exported, env):
    stack, export = exported.stack(f"services-{env}"), SHAPES[env]
    _, _, block = _stream(stack)
    ((group_id, _group),) = [
        (k, v)
        for k, v in stack.resources("aws_security_group").items()
        if v["name"] == f"{env}-platform-logs-firehose"
    ]
    group_ref = stack.ref("aws_security_group", group_id, "id")
    assert block["vpc_config"]["security_group_ids"] == [group_ref]
    assert len(block["vpc_config"]["subnet_ids"]) == BASE.network.az_count
    assert all("PrivateSubnet" in s for s in block["vpc_config"]["subnet_ids"])
    egress = [
        v
        for v in stack.resources("aws_vpc_security_group_egress_rule").values()
        if v["security_group_id"] == group_ref
    ]
    assert len(egress) == 1
    (rule,) = egress
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 443, 443)
    ingress = [
        v
        for v in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if v["security_group_id"] == group_ref
    ]
    assert ingress == [], "nothing connects to Firehose's interfaces"
    admits = [
        v
        for v in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if v.get("referenced_security_group_id") == group_ref
    ]
    if export.vpc.domain_security_group_id:
        assert rule["referenced_security_group_id"] == DOMAIN_SG and "cidr_ipv4" not in rule
        (admit,) = admits
        assert admit["security_group_id"] == DOMAIN_SG and admit["from_port"] == 443
    else:
        assert rule["cidr_ipv4"] == BASE.network.vpc_cidr and admits == []
    assert stack.doc["output"]["log_export_security_group_id"]["value"] == group_ref


def test_checkov_finds_nothing_unjustified_in_any_shape(exported, tmp_path):
    assert_checkov_clean(copy_stacks(exported, [f"services-{env}" for env in SHAPES], tmp_path))


def test_every_action_exists_and_is_scoped_only_where_iam_allows(exported, tmp_path):
    assert_iam_lint_clean(copy_stacks(exported, [f"services-{env}" for env in SHAPES], tmp_path))
