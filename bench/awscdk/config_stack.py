"""Config pipeline stack: KMS key, CloudTrail, AppConfig, and per service its profile, secrets,
EventBridge rules -> SNS topic (DLQ, and an alarm on it)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bench.awscdk.base import EnvStack, pascal
from bench.awscdk.envs import EnvPlan
from config_agent import contract
from settings.naming import AGENT_TOKEN_SECRET, PLATFORM, config_path, resource_name
from settings.schema import DeploymentStrategy
from settings.services import FEATURE_FLAGS, ServiceSpec


@dataclass
class ServiceConfig:
    """What one service's tasks consume from this stack."""

    topic: sns.Topic
    dlq: sqs.Queue
    secrets: dict[str, secretsmanager.Secret]
    agent_token: secretsmanager.Secret
    profile: appconfig.HostedConfiguration | None
    key: kms.IKey
    application_id: str
    environment_id: str


class ConfigStack(EnvStack):
    """Per env one key, trail and AppConfig app; per service `service_config[name]`."""

    kind = "config"

    def __init__(self, scope: Construct, env: EnvPlan) -> None:
        super().__init__(scope, env)
        p = env.pipeline
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True, alias=f"alias/{env.name}-{PLATFORM}-config"
        )
        cloudtrail.Trail(
            self,
            "Trail",
            trail_name=resource_name(env.name, PLATFORM, "config-trail"),
            encryption_key=self.key,
            is_multi_region_trail=p.trail_multi_region,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
        )
        self.application = appconfig.Application(
            self, "AppConfig", application_name=resource_name(env.name, PLATFORM, "config")
        )
        self.appconfig_env = appconfig.Environment(
            self, "Environment", application=self.application, environment_name=env.name
        )
        linear = p.deployment_strategy is DeploymentStrategy.LINEAR
        self.strategy = appconfig.DeploymentStrategy(
            self,
            "Strategy",
            deployment_strategy_name=resource_name(
                env.name, PLATFORM, p.deployment_strategy.value.replace("_", "-")
            ),
            rollout_strategy=appconfig.RolloutStrategy.linear(
                growth_factor=20 if linear else 100,
                deployment_duration=Duration.minutes(p.deployment_minutes),
                final_bake_time=Duration.minutes(p.bake_minutes),
            ),
        )
        self.service_config = {spec.name: self._service(env, spec) for spec in env.services}

    def _service(self, env: EnvPlan, spec: ServiceSpec) -> ServiceConfig:
        cid = pascal(spec.name)
        profile = self._profile(spec, cid)
        secrets = {
            name: secretsmanager.Secret(
                self,
                f"{cid}Secret{pascal(name)}",
                secret_name=config_path(env.name, spec.name, name),
                encryption_key=self.key,
            )
            for name in spec.secrets
        }
        token = secretsmanager.Secret(
            self,
            f"{cid}AgentToken",
            encryption_key=self.key,
            secret_name=config_path(env.name, spec.name, AGENT_TOKEN_SECRET),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        dlq = sqs.Queue(
            self,
            f"{cid}Dlq",
            queue_name=resource_name(env.name, spec.name, "config-events-dlq"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            retention_period=Duration.days(14),
            enforce_ssl=True,
        )
        topic = sns.Topic(
            self,
            f"{cid}Topic",
            master_key=self.key,
            enforce_ssl=True,
            topic_name=resource_name(env.name, spec.name, "config-events"),
        )
        target = targets.SnsTopic(
            topic, dead_letter_queue=dlq, retry_attempts=185, max_event_age=Duration.hours(1)
        )
        self._rules(env, spec, cid, target, profile)
        dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)).create_alarm(
            self,
            f"{cid}DlqAlarm",
            threshold=0,
            evaluation_periods=1,
            alarm_name=resource_name(env.name, spec.name, "config-events-dlq-not-empty"),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return ServiceConfig(
            topic=topic,
            dlq=dlq,
            secrets=secrets,
            agent_token=token,
            profile=profile,
            key=self.key,
            application_id=self.application.application_id,
            environment_id=self.appconfig_env.environment_id,
        )

    def _profile(self, spec: ServiceSpec, cid: str) -> appconfig.HostedConfiguration | None:
        """The service's hosted AppConfig profile, deployed to the env (None without one)."""
        cp = spec.config_profile
        if cp is None:
            return None
        flags = cp.type == FEATURE_FLAGS
        return appconfig.HostedConfiguration(
            self,
            f"{cid}Profile",
            application=self.application,
            name=f"{spec.name}-{cp.name}",
            content=appconfig.ConfigurationContent.from_inline_json(cp.initial_content_json),
            type=(
                appconfig.ConfigurationType.FEATURE_FLAGS
                if flags
                else appconfig.ConfigurationType.FREEFORM
            ),
            validators=[]
            if flags
            else [appconfig.JsonSchemaValidator.from_inline(json.dumps(dict(cp.json_schema)))],
            kms_key=self.key,
            deploy_to=[self.appconfig_env],
            deployment_strategy=self.strategy,
            deployment_key=self.key,
        )

    def _rules(
        self,
        env: EnvPlan,
        spec: ServiceSpec,
        cid: str,
        target: targets.SnsTopic,
        profile: appconfig.HostedConfiguration | None,
    ) -> None:
        """The service's EventBridge rules: its secrets' changes, its profile's deployments."""
        events.Rule(
            self,
            f"{cid}SecretChanges",
            rule_name=resource_name(env.name, spec.name, "secret-changes"),
            event_pattern=events.EventPattern(
                source=[contract.SECRETS_SOURCE],
                account=[env.account],
                detail_type=list(contract.CLOUDTRAIL_DETAIL_TYPES),
                detail={
                    "eventSource": [contract.SECRETS_EVENT_SOURCE],
                    "eventName": list(contract.SECRET_CHANGE_EVENTS),
                    "requestParameters": {
                        "secretId": [{"prefix": config_path(env.name, spec.name) + "/"}]
                    },
                },
            ),
            targets=[target],
        )
        if profile is None:
            return
        events.Rule(
            self,
            f"{cid}ConfigDeployments",
            rule_name=resource_name(env.name, spec.name, "config-deployments"),
            event_pattern=events.EventPattern(
                source=[contract.APPCONFIG_SOURCE],
                account=[env.account],
                detail_type=[contract.API_CALL],
                detail={
                    "eventSource": [contract.APPCONFIG_EVENT_SOURCE],
                    "eventName": list(contract.DEPLOYMENT_EVENTS),
                    "requestParameters": {
                        "applicationId": [self.application.application_id],
                        "environmentId": [self.appconfig_env.environment_id],
                        "configurationProfileId": [profile.configuration_profile_id],
                    },
                },
            ),
            targets=[target],
        )
