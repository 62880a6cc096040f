"""Change events for config and secrets: a CloudTrail trail and per-service EventBridge rules.

EventBridge receives "AWS API Call via CloudTrail" events for management API calls only while
at least one trail logs management events in the account and region; `ConfigTrail` is that trail.
Each service gets its own rules, so a change wakes exactly the services it concerns; rules pass
the event through unchanged to the service's SNS topic, whose raw-delivery subscriptions make
every agent queue's message body the full EventBridge event (JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from config_agent import contract
from engine.aws.cloudtrail import Cloudtrail
from engine.aws.cloudwatch_event_rule import CloudwatchEventRule
from engine.aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from modules.checkov_skips import skip_checks
from modules.iam import statement
from modules.secure_bucket import SecureBucket, SecureBucketProps
from modules.service_config import ProfileRef
from settings.naming import PARTITION, config_path

if TYPE_CHECKING:
    from modules.config_topic import ConfigTopic

SECRET_CHANGE_EVENTS = contract.SECRET_CHANGE_EVENTS
"""Secrets Manager events after which AWSCURRENT may hold a new value (the agent acts on each)."""
DEPLOYMENT_EVENTS = contract.DEPLOYMENT_EVENTS
CLOUDTRAIL_DETAIL_TYPES = contract.CLOUDTRAIL_DETAIL_TYPES
EVENT_MAX_AGE_SECONDS = 3600
"""EventBridge retries delivery to the topic for up to an hour, then sends the event to the
service's DLQ (as it does at once for errors retries cannot fix: a missing topic, a denied
publish or KMS call). The DLQ alarm tells operators; the agents have no periodic refresh by
default, so until then a restart (an agent fetches everything at start) or a redrive is needed."""
MAX_RETRY_ATTEMPTS = 185
"""EventBridge's maximum; with exponential backoff the hour above is the tighter bound."""
TARGET_ID = "config-topic"
TRAIL_LOG_RETENTION_DAYS = 365
TRAIL_BUCKET_SKIPS = {
    "CKV_AWS_18": "this bucket is the trail's archive; logging its access would log the logger",
    "CKV_AWS_144": "trail logs are kept a year in the env's region; no cross-region copy needed",
    "CKV2_AWS_62": "nothing consumes object events from the trail bucket",
}
TRAIL_SKIPS = {
    "CKV2_AWS_10": "the trail exists to feed EventBridge and archive to S3 with validation; a "
    "CloudWatch Logs copy would double the cost for no consumer",
    "CKV_AWS_252": "nothing subscribes to per-file delivery notices; EventBridge gets the events",
}
MULTI_REGION_SKIP = {
    "CKV_AWS_67": "single-region by the env table (trail_multi_region): this env runs in one "
    "region and EventBridge only needs this region's events",
}


def trail_arn(region: str, account_id: str, name: str) -> str:
    """A trail's ARN from its name: lets the bucket and key policies name it without a cycle."""
    return f"arn:{PARTITION}:cloudtrail:{region}:{account_id}:trail/{name}"


def secret_arn_prefix(region: str, account_id: str, env: str, service: str) -> str:
    """Every ARN of a `/<env>/<service>/...` secret starts with this."""
    return (
        f"arn:{PARTITION}:secretsmanager:{region}:{account_id}:secret:{config_path(env, service)}/"
    )


def secret_changes_pattern(env: str, service: str, region: str, account_id: str) -> dict[str, Any]:
    """Secret writes/rotations of exactly this env's and service's secrets.

    API calls name the secret in `requestParameters.secretId` as a name or an ARN (so both
    prefixes); RotationSucceeded names it in `additionalEventData.SecretId` as an ARN. The
    trailing `/` keeps `/dev/web/` from matching `/dev/web-admin/...`.
    """
    name_prefix = config_path(env, service) + "/"
    arn_prefix = secret_arn_prefix(region, account_id, env, service)
    return {
        "source": [contract.SECRETS_SOURCE],
        "account": [account_id],
        "detail-type": list(CLOUDTRAIL_DETAIL_TYPES),
        "detail": {
            "eventSource": [contract.SECRETS_EVENT_SOURCE],
            "eventName": list(SECRET_CHANGE_EVENTS),
            "$or": [
                {
                    "requestParameters": {
                        "secretId": [{"prefix": name_prefix}, {"prefix": arn_prefix}]
                    }
                },
                {"additionalEventData": {"SecretId": [{"prefix": arn_prefix}]}},
            ],
        },
    }


def config_deployments_pattern(account_id: str, profile: ProfileRef) -> dict[str, Any]:
    """AppConfig deployments of exactly this service's profile to this env's environment."""
    return {
        "source": [contract.APPCONFIG_SOURCE],
        "account": [account_id],
        "detail-type": [contract.API_CALL],
        "detail": {
            "eventSource": [contract.APPCONFIG_EVENT_SOURCE],
            "eventName": list(DEPLOYMENT_EVENTS),
            "requestParameters": {
                "applicationId": [profile.application_id],
                "environmentId": [profile.environment_id],
                "configurationProfileId": [profile.profile_id],
            },
        },
    }


@dataclass(frozen=True)
class ConfigTrailProps:
    """The trail that feeds management events to EventBridge, and where it archives them."""

    name: str
    bucket_name: str
    account_id: str
    region: str
    kms_key_arn: str
    multi_region: bool
    log_retention_days: int = TRAIL_LOG_RETENTION_DAYS
    """Days the bucket keeps trail logs; default a year."""


class ConfigTrail(Construct):
    """Management-event trail: log file validation, SSE-KMS, private bucket writable by it only."""

    def __init__(self, scope: Construct, id_: str, props: ConfigTrailProps) -> None:
        super().__init__(scope, id_)
        self.arn = trail_arn(props.region, props.account_id, props.name)
        cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
        source = {"aws:SourceArn": self.arn}
        bucket_arn = f"arn:{PARTITION}:s3:::{props.bucket_name}"
        self.bucket = SecureBucket(
            self,
            "Bucket",
            SecureBucketProps(
                bucket_name=props.bucket_name,
                kms_key_arn=props.kms_key_arn,
                expiration_days=props.log_retention_days,
                policy_statements=(
                    statement(
                        ["s3:GetBucketAcl"],
                        [bucket_arn],
                        sid="CloudTrailAclCheck",
                        principal=cloudtrail,
                        condition={"StringEquals": source},
                    ),
                    statement(
                        ["s3:PutObject"],
                        [f"{bucket_arn}/AWSLogs/{props.account_id}/*"],
                        sid="CloudTrailWrite",
                        principal=cloudtrail,
                        condition={
                            "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}
                        },
                    ),
                ),
            ),
        )
        self.trail = Cloudtrail(
            self,
            "Trail",
            name=props.name,
            s3_bucket_name=self.bucket.name,
            kms_key_id=props.kms_key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=props.multi_region,
            include_global_service_events=True,
            enable_logging=True,
            # CloudTrail checks the bucket policy when the trail is created.
            depends_on=[self.bucket.policy],
        )
        skip_checks(self.bucket.bucket, TRAIL_BUCKET_SKIPS)
        skip_checks(
            self.trail, {**TRAIL_SKIPS, **({} if props.multi_region else MULTI_REGION_SKIP)}
        )


@dataclass(frozen=True)
class ServiceEventRulesProps:
    """Which changes concern one service, and the topic that fans them out to its sidecars."""

    env: str
    service: str
    account_id: str
    region: str
    topic: ConfigTopic
    """The rules publish to its topic and dead-letter what they cannot deliver into its DLQ
    (whose policies must admit them: `ConfigTopic.allow_event_rules`)."""
    secret_rule_name: str
    deployment_rule_name: str
    profile: ProfileRef | None = None
    """The service's config profile; default none: no deployment rule."""


class ServiceEventRules(Construct):
    """A secrets rule and (with a profile) a deployments rule, both targeting the service topic
    and dead-lettering what they cannot deliver into the service's DLQ."""

    def __init__(self, scope: Construct, id_: str, props: ServiceEventRulesProps) -> None:
        super().__init__(scope, id_)
        self.rules: dict[str, CloudwatchEventRule] = {}
        self._add(
            props,
            "SecretChanges",
            props.secret_rule_name,
            f"Secret changes under {config_path(props.env, props.service)}/",
            secret_changes_pattern(props.env, props.service, props.region, props.account_id),
        )
        if props.profile is not None:
            self._add(
                props,
                "ConfigDeployments",
                props.deployment_rule_name,
                f"AppConfig deployments of the {props.service} profile",
                config_deployments_pattern(props.account_id, props.profile),
            )
        self.rule_arns = [rule.arn for rule in self.rules.values()]

    def _add(
        self,
        props: ServiceEventRulesProps,
        id_: str,
        name: str,
        description: str,
        pattern: dict[str, Any],
    ) -> None:
        rule = CloudwatchEventRule(
            self,
            id_,
            name=name,
            description=description,
            event_pattern=json.dumps(pattern, sort_keys=True),
        )
        # No input/input_transformer: the topic (and, via raw delivery, every agent's queue)
        # receives the whole event (docs/config-pipeline.md). No role: the topic and DLQ
        # policies admit EventBridge for exactly these rules.
        CloudwatchEventTarget(
            self,
            f"{id_}Target",
            rule=rule.name,
            target_id=TARGET_ID,
            arn=props.topic.arn,
            retry_policy=CloudwatchEventTargetRetryPolicy(
                maximum_event_age_in_seconds=EVENT_MAX_AGE_SECONDS,
                maximum_retry_attempts=MAX_RETRY_ATTEMPTS,
            ),
            dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=props.topic.dlq_arn),
        )
        self.rules[id_] = rule
