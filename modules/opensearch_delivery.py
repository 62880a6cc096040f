"""An Amazon Data Firehose stream into an existing OpenSearch Service domain or OpenSearch
Serverless collection: encrypted with its own KMS key, failed documents backed up to an
encrypted bucket, delivery errors logged, its role scoped to that domain/collection and index,
and (domain in a VPC) delivery from its own security group. Producers get
`grant_put_records()`; nothing of ours runs in the delivery path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.cloudwatch_log_stream import CloudwatchLogStream
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.kinesis_firehose_delivery_stream import KinesisFirehoseDeliveryStream
from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from modules.checkov_skips import retention_skips, skip_checks
from modules.iam import policy_json, statement
from modules.kms_key import KEY_POLICY_RESOURCE, KmsKey, KmsKeyProps
from modules.secure_bucket import SecureBucket, SecureBucketProps
from settings.naming import PARTITION

HTTPS = 443
DELIVERY_LOG_STREAM = "DestinationDelivery"
BACKUP_LOG_STREAM = "BackupDelivery"
"""The log streams the Firehose console creates for a stream's errors; Firehose writes only to
streams that exist."""
FAILED_PREFIX = "failed/"
BACKUP_BUCKET_SKIPS = {
    "CKV_AWS_18": "holds only documents OpenSearch refused; S3 access logging of it would add "
    "a second bucket for data that is itself a failure log",
    "CKV_AWS_144": "refused log documents are kept for diagnosis for a short time; no "
    "cross-region copy needed",
    "CKV2_AWS_62": "nothing consumes object events: failed documents are read by hand",
}
VPC_ENI_ACTIONS = (
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeNetworkInterfaces",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
)
"""What Firehose needs to create and remove its ENIs in the subnets (Firehose Developer Guide,
"Grant Firehose access to an OpenSearch Service destination in a VPC"); AWS documents them on
`*`: the subnets and groups are fixed by the stream's vpc_config, which this role cannot
change."""
S3_DELIVERY_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:PutObject",
)
"""Firehose Developer Guide, "Grant Firehose access to an Amazon S3 destination"."""


@dataclass(frozen=True)
class OpenSearchTarget:
    """Where documents go: a domain (by ARN) or a Serverless collection (ARN and endpoint)."""

    arn: str
    index: str
    collection_endpoint: str | None = None
    """Required for a collection; None for a domain."""
    index_rotation: str = "OneDay"
    """Domains only (Firehose IndexRotationPeriod)."""

    @property
    def serverless(self) -> bool:
        """True for a Serverless collection."""
        return ":aoss:" in self.arn


@dataclass(frozen=True)
class VpcDelivery:
    """A domain in a VPC: Firehose's ENIs go into `subnet_ids` behind a group of its own."""

    vpc_id: str
    subnet_ids: Sequence[str]
    vpc_cidr: str
    domain_security_group_id: str | None = None
    """Egress to (and an ingress rule on) this group; None: egress to `vpc_cidr` on 443."""


@dataclass(frozen=True)
class OpenSearchDeliveryProps:
    """The stream's name, account and region, destination, and retention choices."""

    name: str
    """Stream, role, key alias and log group name: `<env>-platform-<purpose>`."""
    account_id: str
    region: str
    target: OpenSearchTarget
    vpc: VpcDelivery | None = None
    """Domains in a VPC only; None: the public endpoint."""
    backup_retention_days: int = 30
    """Days refused documents stay in the backup bucket."""
    error_log_retention_days: int = 30
    """Retention of the delivery-error log group (a CloudWatch retention value)."""
    buffer_interval_seconds: int = 60
    """Longest wait before a batch is sent (0-900)."""


def firehose_trust_policy(account_id: str) -> str:
    """Firehose may assume the role for this account's streams only (Firehose Developer Guide,
    "Allow Firehose to assume an IAM role": `sts:ExternalId` is the account id)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "firehose.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": account_id}},
                }
            ],
        },
        sort_keys=True,
    )


def domain_statements(domain_arn: str, index: str) -> list[dict[str, Any]]:
    """Write to `index*` of one domain, read what Firehose checks first.

    Firehose sends `POST /_bulk` with the index in each action line (Firehose Developer Guide,
    "Understand data delivery": a bulk request), so the write grant is the domain's `_bulk`
    path plus the index paths (index creation on rotation); IAM cannot see which index a bulk
    body names, so fine-grained access control (a role mapping limited to `index*`) is what
    pins the index on a domain that has it. The read grants are AWS's documented list for a
    Firehose role ("Grant Firehose access to a public OpenSearch Service destination"), with
    the index wildcard narrowed to this index.
    """
    reads = (
        "_all/_settings",
        "_cluster/stats",
        f"{index}*/_mapping/*",
        "_nodes",
        "_nodes/stats",
        "_nodes/*/stats",
        "_stats",
        f"{index}*/_stats",
        "_cat/indices",
    )
    return [
        statement(
            ["es:DescribeDomain", "es:DescribeDomains", "es:DescribeDomainConfig"],
            [domain_arn],
            sid="DescribeDomain",
        ),
        statement(
            ["es:ESHttpPost", "es:ESHttpPut"],
            [f"{domain_arn}/_bulk", f"{domain_arn}/{index}*"],
            sid="WriteIndex",
        ),
        statement(
            ["es:ESHttpGet"], [f"{domain_arn}/{path}" for path in reads], sid="ReadDomainState"
        ),
    ]


def collection_statements(collection_arn: str) -> list[dict[str, Any]]:
    """`aoss:APIAccessAll` on the one collection (Firehose Developer Guide, "Grant Firehose
    access to a public OpenSearch Serverless destination"). Which indexes the role may write
    is the collection's data access policy, outside IAM: the README says what to add."""
    return [statement(["aoss:APIAccessAll"], [collection_arn], sid="WriteCollection")]


def https_client_group(
    scope: Construct, vpc: VpcDelivery, *, name: str, client: str, admit_id: str
) -> str:
    """A security group of `client`'s own in the domain's VPC: no ingress, one egress rule
    (443 to the domain's group, or to the VPC CIDR without one), and, given the domain's
    group, an ingress rule on it admitting this group on 443. Returns the group's id."""
    group = SecurityGroup(
        scope,
        "SecurityGroup",
        name=name,
        description=f"{client} to the OpenSearch domain",
        vpc_id=vpc.vpc_id,
        tags={"Name": name},
    )
    skip_checks(
        group,
        {
            "CKV2_AWS_5": f"attached to the {client.split()[0]} resource's VPC "
            "options, an attachment checkov does not follow"
        },
    )
    target: dict[str, Any] = (
        {"referenced_security_group_id": vpc.domain_security_group_id}
        if vpc.domain_security_group_id
        else {"cidr_ipv4": vpc.vpc_cidr}
    )
    VpcSecurityGroupEgressRule(
        scope,
        "HttpsToDomain",
        security_group_id=group.id,
        description="HTTPS to the OpenSearch domain",
        ip_protocol="tcp",
        from_port=HTTPS,
        to_port=HTTPS,
        **target,
    )
    if vpc.domain_security_group_id:
        VpcSecurityGroupIngressRule(
            scope,
            admit_id,
            security_group_id=vpc.domain_security_group_id,
            description=f"HTTPS from {client}",
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            referenced_security_group_id=group.id,
        )
    return str(group.id)


class OpenSearchDelivery(Construct):
    """Firehose stream to OpenSearch; exposes `.arn`, `.name`, `.role_arn` and, with VPC
    delivery, `.security_group_id`."""

    def __init__(self, scope: Construct, id_: str, props: OpenSearchDeliveryProps) -> None:
        super().__init__(scope, id_)
        if props.target.serverless == (props.target.collection_endpoint is None):
            raise ValueError(f"{props.name}: a collection needs its endpoint, a domain none")
        if props.vpc is not None and props.target.serverless:
            raise ValueError(f"{props.name}: VPC delivery is for domains in a VPC")
        self._props = props
        self.name = props.name
        self.key = self._key()
        self.backup_bucket = SecureBucket(
            self,
            "Backup",
            SecureBucketProps(
                bucket_name=f"{props.name}-failed-{props.account_id}",
                kms_key_arn=self.key.arn,
                expiration_days=props.backup_retention_days,
            ),
        )
        skip_checks(self.backup_bucket.bucket, BACKUP_BUCKET_SKIPS)
        self.log_group = self._error_log()
        self.role = IamRole(
            self,
            "Role",
            name=props.name,
            assume_role_policy=firehose_trust_policy(props.account_id),
        )
        self.role_arn = self.role.arn
        self.security_group_id: str | None = None
        if props.vpc is not None:
            self.security_group_id = self._security_group(props.vpc)
        policy = IamRolePolicy(
            self,
            "RolePolicy",
            role=self.role.id,
            name="deliver",
            policy=policy_json(*self._role_statements()),
        )
        self.stream = KinesisFirehoseDeliveryStream(
            self,
            "Stream",
            name=props.name,
            server_side_encryption={
                "enabled": True,
                "key_type": "CUSTOMER_MANAGED_CMK",
                "key_arn": self.key.arn,
            },
            # The role must be usable before Firehose validates the destination with it.
            depends_on=[policy],
            **self._destination(),
        )
        self.arn = self.stream.arn

    def grant_put_records(self) -> dict[str, Any]:
        """The statement a producer (a FireLens router) needs: PutRecordBatch on this stream
        only (Fluent Bit's kinesis_firehose output sends batches)."""
        return statement(["firehose:PutRecordBatch"], [self.arn], sid="PutLogRecords")

    def _key(self) -> KmsKey:
        p = self._props
        group_arn = (
            f"arn:{PARTITION}:logs:{p.region}:{p.account_id}:log-group:{self._log_group_name}"
        )
        # CloudWatch Logs encrypts the error log group with the key only for that group
        # (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
        logs = statement(
            [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            [KEY_POLICY_RESOURCE],
            sid="CloudWatchLogsEncryptsErrorLog",
            principal={"Service": f"logs.{p.region}.amazonaws.com"},
            condition={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
        )
        return KmsKey(
            self,
            "Key",
            KmsKeyProps(
                alias=f"alias/{p.name}",
                account_id=p.account_id,
                service_statements=(logs,),
                description=f"{p.name}: Firehose stream, its failed-document bucket and error log",
            ),
        )

    @property
    def _log_group_name(self) -> str:
        return f"/aws/kinesisfirehose/{self._props.name}"

    def _error_log(self) -> CloudwatchLogGroup:
        p = self._props
        group = CloudwatchLogGroup(
            self,
            "ErrorLog",
            name=self._log_group_name,
            retention_in_days=p.error_log_retention_days,
            kms_key_id=self.key.arn,
        )
        skip_checks(group, retention_skips(p.error_log_retention_days))
        for stream in (DELIVERY_LOG_STREAM, BACKUP_LOG_STREAM):
            CloudwatchLogStream(self, f"ErrorLog{stream}", name=stream, log_group_name=group.name)
        return group

    def _security_group(self, vpc: VpcDelivery) -> str:
        """Firehose's own group: HTTPS out to the domain only, nothing in."""
        return https_client_group(
            self,
            vpc,
            name=f"{self._props.name}-firehose",
            client=f"Firehose stream {self._props.name}",
            admit_id="DomainAdmitsFirehose",
        )

    def _role_statements(self) -> list[dict[str, Any]]:
        p, bucket, key = self._props, self.backup_bucket, self.key
        statements = [
            statement(
                S3_DELIVERY_ACTIONS, [bucket.arn, f"{bucket.arn}/*"], sid="BackupFailedDocuments"
            ),
            # Through S3 only, for this bucket (Firehose Developer Guide, S3 access with a
            # customer managed key). The bucket uses an S3 Bucket Key, whose encryption
            # context is the bucket's ARN rather than the object's (S3 User Guide, "Reducing
            # the cost of SSE-KMS with Amazon S3 Bucket Keys"): both are allowed.
            statement(
                ["kms:GenerateDataKey", "kms:Decrypt"],
                [key.arn],
                sid="EncryptBackup",
                condition={
                    "StringEquals": {"kms:ViaService": f"s3.{p.region}.amazonaws.com"},
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [bucket.arn, f"{bucket.arn}/*"]
                    },
                },
            ),
            statement(
                ["logs:PutLogEvents"],
                [f"{self.log_group.arn}:log-stream:*"],
                sid="LogDeliveryErrors",
            ),
        ]
        if p.target.serverless:
            statements += collection_statements(p.target.arn)
        else:
            statements += domain_statements(p.target.arn, p.target.index)
        if p.vpc is not None:
            statements.append(statement(VPC_ENI_ACTIONS, ["*"], sid="ManageDeliveryEnis"))
        return statements

    def _destination(self) -> dict[str, Any]:
        """`destination` and its configuration block, per the provider's schema
        (terraform-provider-aws internal/service/firehose/delivery_stream.go)."""
        p, t = self._props, self._props.target
        logging = {"enabled": True, "log_group_name": self.log_group.name}
        config: dict[str, Any] = {
            "role_arn": self.role.arn,
            "index_name": t.index,
            "buffering_interval": p.buffer_interval_seconds,
            "s3_backup_mode": "FailedDocumentsOnly",
            "cloudwatch_logging_options": {**logging, "log_stream_name": DELIVERY_LOG_STREAM},
            "s3_configuration": {
                "role_arn": self.role.arn,
                "bucket_arn": self.backup_bucket.arn,
                "prefix": FAILED_PREFIX,
                "compression_format": "GZIP",
                "kms_key_arn": self.key.arn,
                "cloudwatch_logging_options": {**logging, "log_stream_name": BACKUP_LOG_STREAM},
            },
        }
        if p.vpc is not None:
            config["vpc_config"] = {
                "role_arn": self.role.arn,
                "subnet_ids": list(p.vpc.subnet_ids),
                "security_group_ids": [self.security_group_id],
            }
        if t.serverless:
            config["collection_endpoint"] = t.collection_endpoint
            return {
                "destination": "opensearchserverless",
                "opensearchserverless_configuration": config,
            }
        config.update(domain_arn=t.arn, index_rotation_period=t.index_rotation)
        return {"destination": "opensearch", "opensearch_configuration": config}
