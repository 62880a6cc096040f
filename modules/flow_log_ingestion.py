"""VPC flow logs into an existing OpenSearch Service domain or Serverless collection through an
Amazon OpenSearch Ingestion pipeline, with nothing of ours to run: the VPC's flow log delivered
to an encrypted bucket, S3 event notifications to an encrypted queue (with a DLQ), and a
managed pipeline whose configuration (data, not code) reads each object, splits its
space-separated lines into fields by the file's own header, and indexes one document per line.

Why not Firehose: flow logs reach Firehose as plain text lines, or batched inside CloudWatch
subscription records, and OpenSearch needs one JSON document per record; only a transform
Lambda would bridge that (README, "Log export to OpenSearch").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.flow_log import FlowLog
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.osis_pipeline import (
    OsisPipeline,
    OsisPipelineLogPublishingOptions,
    OsisPipelineLogPublishingOptionsCloudwatchLogDestination,
    OsisPipelineVpcOptions,
)
from engine.aws.s3_bucket_notification import S3BucketNotification, S3BucketNotificationQueue
from engine.aws.sqs_queue import SqsQueue
from engine.aws.sqs_queue_policy import SqsQueuePolicy
from modules.checkov_skips import retention_skips, skip_checks
from modules.iam import assume_role_policy, policy_json, statement
from modules.kms_key import KEY_POLICY_RESOURCE, KmsKey, KmsKeyProps
from modules.opensearch_delivery import (
    BACKUP_BUCKET_SKIPS,
    OpenSearchTarget,
    VpcDelivery,
    https_client_group,
)
from modules.secure_bucket import SecureBucket, SecureBucketProps
from settings.naming import PARTITION

FLOW_LOG_PREFIX = "AWSLogs/"
"""Where flow logs land in the bucket (`AWSLogs/<account>/vpcflowlogs/<region>/...`, VPC User
Guide, "Flow log files"): the only prefix whose new objects notify the queue."""
FAILED_PREFIX = "failed/"
"""Documents OpenSearch refused (the sink's S3 DLQ): outside FLOW_LOG_PREFIX, so the pipeline
never reads its own failures back."""
QUEUE_VISIBILITY_SECONDS = 300
"""Longer than reading one flow-log object (small: a 60 s aggregation window per file)."""
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECONDS = 1209600  # 14 days, the SQS maximum: time to look at what failed
FLOW_LOG_BUCKET_SKIPS = {
    **{k: v for k, v in BACKUP_BUCKET_SKIPS.items() if k != "CKV2_AWS_62"},
    "CKV_AWS_18": "holds flow logs (themselves an access log) on their way to OpenSearch; "
    "S3 access logging of it would add a second bucket for no new information",
}
LOG_DELIVERY = "delivery.logs.amazonaws.com"
TERRAFORM_LITERAL_PERCENT_BRACE = "%%{"
"""A literal `%{` inside a Terraform string (where `%{` alone starts a template directive)."""


@dataclass(frozen=True)
class FlowLogIngestionProps:
    """Names, the VPC whose flow logs are exported, the destination and the pipeline's size."""

    name: str
    """Bucket, queue, role and key alias: `<env>-platform-flowlogs`."""
    pipeline_name: str
    """OpenSearch Ingestion allows 3-28 characters: `<env>-flowlogs`."""
    account_id: str
    region: str
    vpc_id: str
    target: OpenSearchTarget
    """`arn` and `index` (documents go to `<index>-flowlogs-YYYY.MM.DD`)."""
    endpoint: str
    """The domain's or collection's https endpoint (the sink's `hosts`)."""
    vpc: VpcDelivery | None = None
    """A domain in a VPC: the pipeline gets VPC options and a group of its own."""
    min_units: int = 1
    """Ingestion OCUs (1-96, settings/log_export.py checks)."""
    max_units: int = 4
    retention_days: int = 30
    """Days flow-log objects and refused documents stay in the bucket."""
    log_retention_days: int = 30
    """Retention of the pipeline's own log group (a CloudWatch retention value)."""


def pipeline_trust_policy(account_id: str, region: str, pipeline_name: str) -> str:
    """OpenSearch Ingestion may assume the role for this pipeline only (OpenSearch Service
    Developer Guide, "Setting up roles and users in Amazon OpenSearch Ingestion": the
    confused-deputy conditions aws:SourceAccount and aws:SourceArn)."""
    return assume_role_policy(
        "osis-pipelines.amazonaws.com",
        source_account=account_id,
        source_arn_like=f"arn:{PARTITION}:osis:{region}:{account_id}:pipeline/{pipeline_name}",
    )


def sink_statements(target: OpenSearchTarget) -> list[dict[str, Any]]:
    """Write to the one domain or collection (OpenSearch Service Developer Guide, "Granting
    Amazon OpenSearch Ingestion pipelines access to domains" / "... to collections").

    Domain: es:DescribeDomain, and the HTTP verbs the opensearch sink uses (GET/HEAD to read
    the cluster and index state, PUT to create the daily index, POST for `_bulk`; no DELETE)
    on that domain's paths; IAM cannot see which index a `_bulk` body names, so a
    fine-grained access control role mapping pins the index (README). Collection:
    aoss:APIAccessAll on that collection, and aoss:BatchGetCollection; which indexes is the
    collection's data access policy.
    """
    if target.serverless:
        # aoss:BatchGetCollection (read-only: the sink looks its collection up) takes no
        # resource type (Service Authorization Reference, Amazon OpenSearch Serverless), so
        # a statement scoped to the collection would never match it.
        return [
            statement(["aoss:APIAccessAll"], [target.arn], sid="WriteCollection"),
            statement(["aoss:BatchGetCollection"], ["*"], sid="DescribeCollections"),
        ]
    return [
        statement(["es:DescribeDomain"], [target.arn], sid="DescribeDomain"),
        statement(
            ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"],
            [f"{target.arn}/*"],
            sid="WriteDomain",
        ),
    ]


class FlowLogIngestion(Construct):
    """Flow log → bucket → queue → pipeline → OpenSearch; exposes `.pipeline_arn`,
    `.role_arn`, `.bucket`, `.queue_arn` and, in a VPC, `.security_group_id`."""

    def __init__(self, scope: Construct, id_: str, props: FlowLogIngestionProps) -> None:
        super().__init__(scope, id_)
        if not 3 <= len(props.pipeline_name) <= 28:
            raise ValueError(f"pipeline name {props.pipeline_name!r} must be 3-28 characters")
        if props.vpc is not None and props.target.serverless:
            raise ValueError(f"{props.name}: VPC options are for domains in a VPC")
        self._props = props
        self.key = self._key()
        self.bucket = self._bucket()
        self.flow_log = self._flow_log()
        self.queue, self.dlq = self._queues()
        self.queue_arn = self.queue.arn
        notification = self._notification()
        self.log_group = self._pipeline_log_group()
        self.role = self._role()
        self.role_arn = self.role.arn
        policy = IamRolePolicy(
            self,
            "RolePolicy",
            role=self.role.id,
            name="ingest",
            policy=policy_json(*self._role_statements()),
        )
        self.security_group_id: str | None = self._pipeline_group()
        self.pipeline = self._pipeline(policy, notification)
        self.pipeline_arn = self.pipeline.pipeline_arn

    def _bucket(self) -> SecureBucket:
        p = self._props
        bucket = SecureBucket(
            self,
            "Bucket",
            SecureBucketProps(
                bucket_name=f"{p.name}-{p.account_id}",
                kms_key_arn=self.key.arn,
                expiration_days=p.retention_days,
                policy_statements=self._log_delivery_statements(),
            ),
        )
        skip_checks(bucket.bucket, FLOW_LOG_BUCKET_SKIPS)
        return bucket

    def _flow_log(self) -> FlowLog:
        return FlowLog(
            self,
            "FlowLog",
            vpc_id=self._props.vpc_id,
            traffic_type="ALL",
            log_destination_type="s3",
            log_destination=self.bucket.arn,
            max_aggregation_interval=60,
            # S3 must admit log delivery before the flow log is created.
            depends_on=[self.bucket.policy],
            tags={"Name": self._props.name},
        )

    def _notification(self) -> S3BucketNotification:
        return S3BucketNotification(
            self,
            "Notification",
            bucket=self.bucket.bucket.id,
            # Nested blocks are lists of structs: jsii cannot deserialize lists of dicts.
            queue=[
                S3BucketNotificationQueue(
                    queue_arn=self.queue.arn,
                    events=["s3:ObjectCreated:*"],
                    filter_prefix=FLOW_LOG_PREFIX,
                )
            ],
            # S3 checks it may send to the queue when the notification is saved.
            depends_on=[self._queue_policy],
        )

    def _pipeline_log_group(self) -> CloudwatchLogGroup:
        retention = self._props.log_retention_days
        log_group = CloudwatchLogGroup(
            self,
            "PipelineLog",
            name=self._log_group_name,
            retention_in_days=retention,
            kms_key_id=self.key.arn,
        )
        skip_checks(log_group, retention_skips(retention))
        return log_group

    def _role(self) -> IamRole:
        p = self._props
        return IamRole(
            self,
            "Role",
            name=p.name,
            assume_role_policy=(pipeline_trust_policy(p.account_id, p.region, p.pipeline_name)),
        )

    def _pipeline_group(self) -> str | None:
        """In a VPC, the pipeline's own security group, admitted by the domain's."""
        p = self._props
        if p.vpc is None:
            return None
        return https_client_group(
            self,
            p.vpc,
            name=f"{p.name}-pipeline",
            client=f"OpenSearch Ingestion pipeline {p.pipeline_name}",
            admit_id="DomainAdmitsPipeline",
        )

    def _pipeline(self, policy: IamRolePolicy, notification: S3BucketNotification) -> OsisPipeline:
        p = self._props
        return OsisPipeline(
            self,
            "Pipeline",
            pipeline_name=p.pipeline_name,
            min_units=p.min_units,
            max_units=p.max_units,
            pipeline_configuration_body=self.configuration(),
            log_publishing_options=[
                OsisPipelineLogPublishingOptions(
                    is_logging_enabled=True,
                    cloudwatch_log_destination=[
                        OsisPipelineLogPublishingOptionsCloudwatchLogDestination(
                            log_group=self.log_group.name
                        )
                    ],
                )
            ],
            vpc_options=self._vpc_options(),
            # The role must work before the pipeline validates its source and sink with it.
            depends_on=[policy, notification],
        )

    @property
    def _log_group_name(self) -> str:
        # OpenSearch Ingestion publishes only to vended-log groups (OSIS API reference,
        # CloudWatchLogDestination LogGroup pattern `/aws/vendedlogs/...`).
        return f"/aws/vendedlogs/OpenSearchIngestion/{self._props.pipeline_name}"

    def configuration(self) -> str:
        """The Data Prepper pipeline as JSON (a YAML 1.2 subset; the provider passes it on).

        Source: the `s3` source on SQS notifications; flow-log objects are gzip text whose
        first line names the fields, so the `csv` codec with a space delimiter and
        `detect_header` makes each line one event keyed by the flow log's own field names
        (OpenSearch Data Prepper docs, "s3 source" codecs and "Codec processor combinations":
        the csv codec detects headers). A `date` processor sets `@timestamp` from the
        record's `start` (epoch seconds). Sink: `opensearch` on the destination's endpoint,
        daily indexes, refused documents to the bucket's `failed/` prefix (Data Prepper
        "Dead-letter queues").
        """
        p, role = self._props, self.role.arn
        aws = {"region": p.region, "sts_role_arn": role}
        sink: dict[str, Any] = {
            "hosts": [p.endpoint],
            # Data Prepper's date pattern `%{yyyy.MM.dd}`, escaped for Terraform: in a Terraform
            # string `%{` opens a template directive and `%%{` is a literal `%{` (Terraform
            # language docs, "Strings and Templates"; hashicorp/aws 6.48.0 rejected the
            # unescaped form at `terraform validate`).
            "index": f"{p.target.index}-flowlogs-{TERRAFORM_LITERAL_PERCENT_BRACE}yyyy.MM.dd}}",
            "aws": {**aws, "serverless": p.target.serverless},
            "dlq": {"s3": {"bucket": self.bucket.name, "key_path_prefix": FAILED_PREFIX, **aws}},
        }
        return json.dumps(
            {
                "version": "2",
                "flow-log-pipeline": {
                    "source": {
                        "s3": {
                            "notification_type": "sqs",
                            "compression": "gzip",
                            "codec": {"csv": {"delimiter": " ", "detect_header": True}},
                            "sqs": {"queue_url": self.queue.url},
                            "aws": aws,
                            "acknowledgments": True,
                            "on_error": "retain_messages",
                        }
                    },
                    "processor": [
                        {
                            "date": {
                                "match": [{"key": "start", "patterns": ["epoch_second"]}],
                                "destination": "@timestamp",
                            }
                        }
                    ],
                    "sink": [{"opensearch": sink}],
                },
            },
            sort_keys=True,
        )

    def _vpc_options(self) -> list[OsisPipelineVpcOptions] | None:
        vpc = self._props.vpc
        if vpc is None or self.security_group_id is None:
            return None
        return [
            OsisPipelineVpcOptions(
                subnet_ids=list(vpc.subnet_ids),
                security_group_ids=[self.security_group_id],
                vpc_endpoint_management="SERVICE",
            )
        ]

    def _key(self) -> KmsKey:
        p = self._props
        source_account = {"StringEquals": {"aws:SourceAccount": p.account_id}}
        group_arn = (
            f"arn:{PARTITION}:logs:{p.region}:{p.account_id}:log-group:{self._log_group_name}"
        )
        bucket_arn = f"arn:{PARTITION}:s3:::{p.name}-{p.account_id}"
        return KmsKey(
            self,
            "Key",
            KmsKeyProps(
                alias=f"alias/{p.name}",
                account_id=p.account_id,
                description=f"{p.name}: flow-log bucket, its event queues and the pipeline's log",
                service_statements=(
                    # VPC User Guide, "Amazon S3 bucket permissions for flow logs": SSE-KMS key
                    # policy for the log delivery service.
                    statement(
                        [
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:DescribeKey",
                        ],
                        [KEY_POLICY_RESOURCE],
                        sid="FlowLogDeliveryEncrypts",
                        principal={"Service": LOG_DELIVERY},
                        condition=source_account,
                    ),
                    # S3 User Guide, "Walkthrough: Configuring a bucket for notifications (SQS
                    # with SSE-KMS)": S3 needs the queue's key to send.
                    statement(
                        ["kms:GenerateDataKey", "kms:Decrypt"],
                        [KEY_POLICY_RESOURCE],
                        sid="S3NotifiesEncryptedQueue",
                        principal={"Service": "s3.amazonaws.com"},
                        condition={**source_account, "ArnLike": {"aws:SourceArn": bucket_arn}},
                    ),
                    statement(
                        [
                            "kms:Encrypt*",
                            "kms:Decrypt*",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:Describe*",
                        ],
                        [KEY_POLICY_RESOURCE],
                        sid="CloudWatchLogsEncryptsPipelineLog",
                        principal={"Service": f"logs.{p.region}.amazonaws.com"},
                        condition={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
                    ),
                ),
            ),
        )

    def _log_delivery_statements(self) -> tuple[dict[str, Any], ...]:
        """Bucket policy for flow-log delivery as the VPC User Guide gives it ("Amazon S3
        bucket permissions for flow logs"), limited to this account's flow logs."""
        p = self._props
        arn = f"arn:{PARTITION}:s3:::{p.name}-{p.account_id}"
        origin = {
            "StringEquals": {"aws:SourceAccount": p.account_id},
            "ArnLike": {"aws:SourceArn": f"arn:{PARTITION}:logs:{p.region}:{p.account_id}:*"},
        }
        write_condition = {
            **origin,
            "StringEquals": {**origin["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"},
        }
        return (
            statement(
                ["s3:PutObject"],
                [f"{arn}/{FLOW_LOG_PREFIX}{p.account_id}/*"],
                sid="AWSLogDeliveryWrite",
                principal={"Service": LOG_DELIVERY},
                condition=write_condition,
            ),
            statement(
                ["s3:GetBucketAcl"],
                [arn],
                sid="AWSLogDeliveryAclCheck",
                principal={"Service": LOG_DELIVERY},
                condition=origin,
            ),
        )

    def _queues(self) -> tuple[SqsQueue, SqsQueue]:
        p = self._props
        dlq = SqsQueue(
            self,
            "DeadLetterQueue",
            name=f"{p.name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            kms_master_key_id=self.key.arn,
        )
        queue = SqsQueue(
            self,
            "Queue",
            name=p.name,
            kms_master_key_id=self.key.arn,
            visibility_timeout_seconds=QUEUE_VISIBILITY_SECONDS,
            redrive_policy=json.dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
        )
        deny_insecure = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",  # a Deny on every action is the point here
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        s3_sends = statement(
            ["sqs:SendMessage"],
            [queue.arn],
            sid="BucketNotifies",
            principal={"Service": "s3.amazonaws.com"},
            condition={
                "StringEquals": {"aws:SourceAccount": p.account_id},
                "ArnLike": {"aws:SourceArn": self.bucket.arn},
            },
        )
        self._queue_policy = SqsQueuePolicy(
            self,
            "QueuePolicy",
            queue_url=queue.url,
            policy=policy_json({**deny_insecure, "Resource": queue.arn}, s3_sends),
        )
        SqsQueuePolicy(
            self,
            "DeadLetterQueuePolicy",
            queue_url=dlq.url,
            policy=policy_json({**deny_insecure, "Resource": dlq.arn}),
        )
        return queue, dlq

    def _role_statements(self) -> list[dict[str, Any]]:
        p, bucket = self._props, self.bucket.arn
        return [
            # OpenSearch Service Developer Guide, "Using an OpenSearch Ingestion pipeline
            # with Amazon S3": GetObject on the objects, and the three SQS actions.
            statement(["s3:GetObject"], [f"{bucket}/{FLOW_LOG_PREFIX}*"], sid="ReadFlowLogs"),
            statement(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
                [self.queue.arn],
                sid="ConsumeNotifications",
            ),
            statement(["s3:PutObject"], [f"{bucket}/{FAILED_PREFIX}*"], sid="WriteFailed"),
            # Objects and messages are encrypted with this key: decrypt to read, a data key
            # to write refused documents; only through S3 and SQS.
            statement(
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [self.key.arn],
                sid="UseBucketAndQueueKey",
                condition={
                    "StringEquals": {
                        "kms:ViaService": [
                            f"s3.{p.region}.amazonaws.com",
                            f"sqs.{p.region}.amazonaws.com",
                        ]
                    }
                },
            ),
            *sink_statements(p.target),
        ]
