"""VPC flow-log export to OpenSearch through an OpenSearch Ingestion pipeline, in every
destination shape (domain, Serverless collection, VPC domain), over tables of the tests' own:
the synthesized JSON (the pipeline configuration parsed), least privilege, checkov and the IAM
lint; and an export without flow logs builds none of it."""

from __future__ import annotations

import json
import re

import pytest

from modules.flow_log_ingestion import FAILED_PREFIX, FLOW_LOG_PREFIX
from settings.log_export import OpenSearchLogExport, OpenSearchVpcAccess, index_name_problem
from tests import real_provider
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
DOMAIN_ENDPOINT = f"https://search-logs-abc123def456.{REGION}.es.amazonaws.com"
VPC_ENDPOINT = f"https://vpc-logs-abc123def456.{REGION}.es.amazonaws.com"
COLLECTION_ID = "abc123def456ghi789jk"
COLLECTION = f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/{COLLECTION_ID}"
ENDPOINT = f"https://{COLLECTION_ID}.{REGION}.aoss.amazonaws.com"
DOMAIN_SG = "sg-0123456789abcdef0"
FLOWS = {
    # Flow logs only: no service exports, so no Firehose stream either.
    "fldomain": OpenSearchLogExport(
        arn=DOMAIN,
        index="net",
        flow_logs=True,
        domain_endpoint=DOMAIN_ENDPOINT,
        backup_retention_days=7,
    ),
    "flaoss": OpenSearchLogExport(
        arn=COLLECTION,
        collection_endpoint=ENDPOINT,
        flow_logs=True,
        flow_log_min_units=2,
        flow_log_max_units=6,
    ),
    "flvpc": OpenSearchLogExport(
        arn=DOMAIN, flow_logs=True, domain_endpoint=VPC_ENDPOINT, vpc=OpenSearchVpcAccess(DOMAIN_SG)
    ),
}
SHAPES = {**FLOWS, "flfirehose": OpenSearchLogExport(arn=DOMAIN)}
EXPORTING = {"fldomain": set(), "flaoss": {"web"}, "flvpc": {"worker"}, "flfirehose": {"web"}}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> SynthOutput:
    """Every shape, synthesized by main.build_app into one output."""
    return synth_shapes(BASE, SHAPES, EXPORTING, tmp_path_factory.mktemp("flow-log-export"))


def _named(stack: Stack, rtype: str, key: str, value: str) -> tuple[str, dict]:
    (found,) = [(k, v) for k, v in stack.resources(rtype).items() if v.get(key) == value]
    return found


def _as_terraform_renders(text: str) -> str:
    """The string Terraform passes on: it refuses an unescaped `%{`/`${` that is not a valid
    template (as `%{yyyy.MM.dd}` is not), and renders `%%{`/`$${` as `%{`/`${`."""
    assert re.search(r"(?<![%])%\{", text) is None, "unescaped %{ is a Terraform template"
    return text.replace("%%{", "%{").replace("$${", "${")


def _pipeline(stack: Stack) -> tuple[dict, dict]:
    _, pipeline = stack.one("aws_osis_pipeline")
    config = json.loads(_as_terraform_renders(pipeline["pipeline_configuration_body"]))
    assert list(config) == ["flow-log-pipeline", "version"] and config["version"] == "2"
    return pipeline, config["flow-log-pipeline"]


def _refs(stack: Stack, env: str) -> dict[str, str]:
    """References to the export's own resources, by what they are."""
    name = f"{env}-platform-flowlogs"
    bucket_id, _ = _named(stack, "aws_s3_bucket", "bucket", f"{name}-{ACCOUNT}")
    queue_id, _ = _named(stack, "aws_sqs_queue", "name", name)
    dlq_id, _ = _named(stack, "aws_sqs_queue", "name", f"{name}-dlq")
    role_id, _ = _named(stack, "aws_iam_role", "name", name)
    (key_id,) = [
        k for k, v in stack.resources("aws_kms_key").items() if v["description"].startswith(name)
    ]
    return {
        "bucket_arn": stack.ref("aws_s3_bucket", bucket_id, "arn"),
        "bucket_name": stack.ref("aws_s3_bucket", bucket_id, "bucket"),
        "bucket_id": stack.ref("aws_s3_bucket", bucket_id, "id"),
        "queue_arn": stack.ref("aws_sqs_queue", queue_id, "arn"),
        "queue_url": stack.ref("aws_sqs_queue", queue_id, "url"),
        "dlq_arn": stack.ref("aws_sqs_queue", dlq_id, "arn"),
        "role_arn": stack.ref("aws_iam_role", role_id, "arn"),
        "role_id": stack.ref("aws_iam_role", role_id, "id"),
        "key_arn": stack.ref("aws_kms_key", key_id, "arn"),
        "key_id": key_id,
    }


@pytest.mark.parametrize("env", FLOWS)
def test_pipeline_reads_flow_log_objects_from_the_queue_into_daily_indexes(synth, env):
    stack, export = synth.stack(f"network-{env}"), FLOWS[env]
    refs = _refs(stack, env)
    pipeline, config = _pipeline(stack)
    assert pipeline["pipeline_name"] == f"{env}-flowlogs"
    assert (pipeline["min_units"], pipeline["max_units"]) == (
        export.flow_log_min_units,
        export.flow_log_max_units,
    )
    role = {"region": REGION, "sts_role_arn": refs["role_arn"]}
    source = config["source"]["s3"]
    assert source["notification_type"] == "sqs" and source["sqs"]["queue_url"] == refs["queue_url"]
    assert source["compression"] == "gzip" and source["aws"] == role
    # Flow-log files are space-separated with a header line naming the fields.
    assert source["codec"] == {"csv": {"delimiter": " ", "detect_header": True}}
    assert config["processor"] == [
        {
            "date": {
                "match": [{"key": "start", "patterns": ["epoch_second"]}],
                "destination": "@timestamp",
            }
        }
    ]
    (sink,) = config["sink"]
    sink = sink["opensearch"]
    endpoint = export.collection_endpoint or export.domain_endpoint
    assert sink["hosts"] == [endpoint]
    assert sink["aws"] == {**role, "serverless": export.serverless}
    assert sink["index"] == f"{export.index}-flowlogs-%{{yyyy.MM.dd}}"
    assert index_name_problem(sink["index"].replace("%{yyyy.MM.dd}", "2026.12.04"), None) is None
    assert sink["dlq"] == {
        "s3": {"bucket": refs["bucket_name"], "key_path_prefix": FAILED_PREFIX, **role}
    }
    assert not FAILED_PREFIX.startswith(FLOW_LOG_PREFIX), "the pipeline would re-read failures"


@pytest.mark.parametrize("env", FLOWS)
def test_pipeline_logs_to_an_encrypted_vended_log_group(synth, env):
    stack = synth.stack(f"network-{env}")
    refs = _refs(stack, env)
    pipeline, _ = _pipeline(stack)
    group_id, group = _named(
        stack,
        "aws_cloudwatch_log_group",
        "name",
        f"/aws/vendedlogs/OpenSearchIngestion/{env}-flowlogs",
    )
    assert pipeline["log_publishing_options"] == [
        {
            "is_logging_enabled": True,
            "cloudwatch_log_destination": [
                {"log_group": stack.ref("aws_cloudwatch_log_group", group_id, "name")}
            ],
        }
    ]
    assert group["kms_key_id"] == refs["key_arn"]


@pytest.mark.parametrize("env", FLOWS)
def test_flow_log_lands_in_a_private_encrypted_bucket_that_notifies_an_encrypted_queue(synth, env):
    stack, export = synth.stack(f"network-{env}"), FLOWS[env]
    refs = _refs(stack, env)
    (flow_log,) = [
        v for v in stack.resources("aws_flow_log").values() if v["log_destination_type"] == "s3"
    ]
    assert flow_log["log_destination"] == refs["bucket_arn"] and flow_log["traffic_type"] == "ALL"
    (vpc_id,) = stack.resources("aws_vpc")
    assert flow_log["vpc_id"] == stack.ref("aws_vpc", vpc_id, "id")
    on_bucket = {
        t: [v for v in stack.resources(t).values() if v["bucket"] == refs["bucket_id"]]
        for t in (
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_versioning",
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_policy",
            "aws_s3_bucket_notification",
        )
    }
    (sse,) = on_bucket["aws_s3_bucket_server_side_encryption_configuration"]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": refs["key_arn"],
    }
    assert on_bucket["aws_s3_bucket_versioning"][0]["versioning_configuration"] == {
        "status": "Enabled"
    }
    assert all(
        on_bucket["aws_s3_bucket_public_access_block"][0][k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert on_bucket["aws_s3_bucket_lifecycle_configuration"][0]["rule"][0]["expiration"] == [
        {"days": export.backup_retention_days}
    ]
    statements = {
        s["Sid"]: s for s in json.loads(on_bucket["aws_s3_bucket_policy"][0]["policy"])["Statement"]
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    write = statements["AWSLogDeliveryWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    bucket_arn = f"arn:aws:s3:::{env}-platform-flowlogs-{ACCOUNT}"
    assert write["Resource"] == [f"{bucket_arn}/{FLOW_LOG_PREFIX}{ACCOUNT}/*"]
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    (notification,) = on_bucket["aws_s3_bucket_notification"]
    assert notification["queue"] == [
        {
            "queue_arn": refs["queue_arn"],
            "events": ["s3:ObjectCreated:*"],
            "filter_prefix": FLOW_LOG_PREFIX,
        }
    ]
    queues = {
        v["name"]: v
        for v in stack.resources("aws_sqs_queue").values()
        if v["name"].startswith(f"{env}-platform-flowlogs")
    }
    assert all(q["kms_master_key_id"] == refs["key_arn"] for q in queues.values())
    redrive = json.loads(queues[f"{env}-platform-flowlogs"]["redrive_policy"])
    assert redrive["deadLetterTargetArn"] == refs["dlq_arn"]
    (policy,) = [
        v
        for v in stack.resources("aws_sqs_queue_policy").values()
        if v["queue_url"] == refs["queue_url"]
    ]
    sends = [s for s in json.loads(policy["policy"])["Statement"] if s["Effect"] == "Allow"]
    assert sends == [
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [refs["queue_arn"]],
            "Sid": "BucketNotifies",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": refs["bucket_arn"]},
            },
        }
    ]


@pytest.mark.parametrize("env", FLOWS)
def test_pipeline_role_reaches_only_this_bucket_queue_key_and_destination(synth, env):
    stack, export = synth.stack(f"network-{env}"), FLOWS[env]
    refs = _refs(stack, env)
    role = _named(stack, "aws_iam_role", "name", f"{env}-platform-flowlogs")[1]
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "osis-pipelines.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:osis:{REGION}:{ACCOUNT}:pipeline/{env}-flowlogs"},
    }
    statements = {
        s["Sid"]: s
        for p in stack.resources("aws_iam_role_policy").values()
        if p["role"] == refs["role_id"]
        for s in json.loads(p["policy"])["Statement"]
    }
    assert statements["ReadFlowLogs"]["Action"] == ["s3:GetObject"]
    assert statements["ReadFlowLogs"]["Resource"] == [f"{refs['bucket_arn']}/{FLOW_LOG_PREFIX}*"]
    assert statements["WriteFailed"]["Action"] == ["s3:PutObject"]
    assert statements["WriteFailed"]["Resource"] == [f"{refs['bucket_arn']}/{FAILED_PREFIX}*"]
    assert statements["ConsumeNotifications"]["Resource"] == [refs["queue_arn"]]
    assert sorted(statements["ConsumeNotifications"]["Action"]) == [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:ReceiveMessage",
    ]
    kms = statements["UseBucketAndQueueKey"]
    assert kms["Resource"] == [refs["key_arn"]]
    assert kms["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [f"s3.{REGION}.amazonaws.com", f"sqs.{REGION}.amazonaws.com"]
        }
    }
    actions = {a for s in statements.values() for a in s["Action"]}
    assert len(statements) == 6, sorted(statements)
    if export.serverless:
        assert statements["WriteCollection"] == {
            "Effect": "Allow",
            "Action": ["aoss:APIAccessAll"],
            "Resource": [COLLECTION],
            "Sid": "WriteCollection",
        }
        # Read-only, and IAM offers no resource to scope it to (the IAM lint test checks).
        assert statements.pop("DescribeCollections")["Action"] == ["aoss:BatchGetCollection"]
        assert not any(a.startswith("es:") for a in actions)
    else:
        assert statements["DescribeDomain"]["Resource"] == [DOMAIN]
        assert statements["WriteDomain"]["Resource"] == [f"{DOMAIN}/*"]
        assert "es:ESHttpDelete" not in actions
        assert not any(a.startswith("aoss:") for a in actions)
    for st in statements.values():
        assert st["Effect"] == "Allow" and "*" not in st["Resource"], st


@pytest.mark.parametrize("env", FLOWS)
def test_key_policy_admits_each_service_only_for_this_export(synth, env):
    stack = synth.stack(f"network-{env}")
    refs = _refs(stack, env)
    key = stack.resources("aws_kms_key")[refs["key_id"]]
    assert key["enable_key_rotation"] is True
    services = {
        s["Sid"]: s
        for s in json.loads(key["policy"])["Statement"]
        if "Service" in s.get("Principal", {})
    }
    assert set(services) == {
        "FlowLogDeliveryEncrypts",
        "S3NotifiesEncryptedQueue",
        "CloudWatchLogsEncryptsPipelineLog",
    }
    assert services["FlowLogDeliveryEncrypts"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT}
    }
    assert services["S3NotifiesEncryptedQueue"]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:s3:::{env}-platform-flowlogs-{ACCOUNT}"
    }
    assert services["CloudWatchLogsEncryptsPipelineLog"]["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
            f"/aws/vendedlogs/OpenSearchIngestion/{env}-flowlogs"
        }
    }


def test_vpc_domain_is_reached_from_the_pipeline_s_own_group_on_443_only(synth):
    stack = synth.stack("network-flvpc")
    pipeline, _ = _pipeline(stack)
    group_id, _ = _named(stack, "aws_security_group", "name", "flvpc-platform-flowlogs-pipeline")
    group = stack.ref("aws_security_group", group_id, "id")
    private = sorted(
        stack.ref("aws_subnet", k, "id")
        for k in stack.resources("aws_subnet")
        if "PrivateSubnet" in k
    )
    (options,) = pipeline["vpc_options"]
    assert sorted(options["subnet_ids"]) == private and options["security_group_ids"] == [group]
    egress = [
        v
        for v in stack.resources("aws_vpc_security_group_egress_rule").values()
        if v["security_group_id"] == group
    ]
    assert [
        (r["ip_protocol"], r["from_port"], r["to_port"], r["referenced_security_group_id"])
        for r in egress
    ] == [("tcp", 443, 443, DOMAIN_SG)]
    ingress = stack.resources("aws_vpc_security_group_ingress_rule").values()
    assert not [r for r in ingress if r["security_group_id"] == group]
    (admit,) = [r for r in ingress if r.get("referenced_security_group_id") == group]
    assert (admit["security_group_id"], admit["from_port"], admit["to_port"]) == (
        DOMAIN_SG,
        443,
        443,
    )
    assert stack.doc["output"]["flow_log_pipeline_security_group_id"]["value"] == group


@pytest.mark.parametrize("env", ["fldomain", "flaoss"])
def test_public_destinations_get_no_vpc_options_or_group(synth, env):
    stack = synth.stack(f"network-{env}")
    pipeline, _ = _pipeline(stack)
    assert "vpc_options" not in pipeline
    assert not [
        v for v in stack.resources("aws_security_group").values() if v["name"].endswith("-pipeline")
    ]


def test_export_without_flow_logs_builds_no_pipeline_and_flow_logs_alone_no_stream(synth):
    without = synth.stack("network-flfirehose")
    assert not without.resources("aws_osis_pipeline") and not without.resources("aws_sqs_queue")
    assert [v["log_destination_type"] for v in without.resources("aws_flow_log").values()] == [
        "cloud-watch-logs"
    ]
    assert synth.stack("services-flfirehose").resources("aws_kinesis_firehose_delivery_stream")
    assert not synth.stack("services-fldomain").resources("aws_kinesis_firehose_delivery_stream")
    assert synth.stack("services-flaoss").resources("aws_kinesis_firehose_delivery_stream")


@pytest.mark.parametrize("env", FLOWS)
def test_network_stack_stays_free_of_references_to_other_stacks(synth, env):
    # The export lives where the flow logs are; the services stack reads the network stack,
    # so a reference the other way would be a cycle.
    assert not synth.stack(f"network-{env}").data("terraform_remote_state")


def test_checkov_finds_nothing_unjustified_in_any_shape(synth, tmp_path):
    assert_checkov_clean(copy_stacks(synth, [f"network-{env}" for env in SHAPES], tmp_path))


def test_every_action_exists_and_is_scoped_only_where_iam_allows(synth, tmp_path):
    assert_iam_lint_clean(copy_stacks(synth, [f"network-{env}" for env in SHAPES], tmp_path))


@real_provider.needs_real_provider
def test_the_real_provider_validates_every_export_shape(synth, tmp_path):
    """hashicorp/aws itself reads the pipeline, flow log, bucket, queue and Firehose resources
    (its validate once refused the pipeline's unescaped `%{yyyy.MM.dd}`)."""
    names = [f"{kind}-{env}" for env in SHAPES for kind in ("network", "services")]
    proc = real_provider.validate(synth.outdir, names, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
