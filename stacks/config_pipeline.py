"""Config pipeline stack: AppConfig, Secrets Manager, CloudTrail -> EventBridge -> SNS per service.

When a service's configuration is deployed or one of its secrets changes, EventBridge publishes
the CloudTrail event to that service's topic; SNS fans it out to one SQS queue per task, which
each task's config-agent sidecar creates, subscribes and long-polls itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config_agent.contract import agent_queue_prefix
from engine.core import TerraformOutput
from modules.appconfig import AppConfigApp, AppConfigAppProps, HostedProfile, HostedProfileProps
from modules.config_events import (
    ConfigTrail,
    ConfigTrailProps,
    ServiceEventRules,
    ServiceEventRulesProps,
    trail_arn,
)
from modules.config_topic import ConfigTopic, ConfigTopicProps
from modules.kms_key import (
    KmsKey,
    KmsKeyProps,
    cloudtrail_statements,
    eventbridge_statement,
    sns_statement,
    via_services_statement,
)
from modules.orphan_reaper import OrphanReaper, OrphanReaperProps, logs_key_statement
from modules.queue_alarm import DeadLetterAlarm, DeadLetterAlarmProps
from modules.service_config import ServiceConfig
from modules.service_secrets import ServiceSecrets, ServiceSecretsProps
from settings.naming import PLATFORM, cluster_name, pascal_case, resource_name
from settings.schema import EnvironmentSettings
from settings.services import ServiceSpec
from stacks.base import EnvironmentStack

KEY_USERS_VIA = ("secretsmanager", "sqs", "appconfig", "s3")
"""Services through which account principals (task roles, trail readers) use the env key."""


@dataclass(frozen=True)
class ConfigEventNames:
    """Plain names of one service's config-event resources (the dashboard's dimensions)."""

    topic: str
    dlq: str
    secret_rule: str
    deployment_rule: str
    has_profile: bool

    @property
    def rules(self) -> tuple[str, ...]:
        """The EventBridge rules the service has: secret changes, and config deployments when
        it declares a profile."""
        return (self.secret_rule, self.deployment_rule) if self.has_profile else (self.secret_rule,)


def reaper_name(env: str) -> str:
    """`<env>-platform-orphan-reaper`: the function, its role, rules and DLQ."""
    return resource_name(env, PLATFORM, "orphan-reaper")


def config_event_names(env: str, service: str, has_profile: bool) -> ConfigEventNames:
    """`<env>-<service>-config-events`, its `-dlq`, `-secret-changes`, `-config-deployments`."""
    return ConfigEventNames(
        topic=resource_name(env, service, "config-events"),
        dlq=resource_name(env, service, "config-events-dlq"),
        secret_rule=resource_name(env, service, "secret-changes"),
        deployment_rule=resource_name(env, service, "config-deployments"),
        has_profile=has_profile,
    )


class ConfigPipelineStack(EnvironmentStack):
    """Per env: one KMS key, AppConfig app/env/strategy, and per service profile, secrets,
    topic + DLQ (+ its alarm) and event rules; `service_config[name]` is what the services
    stack consumes."""

    kind = "config"

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, env)
        trail_name = resource_name(env.name, PLATFORM, "config-trail")
        self.key = self._key(env, trail_name)
        self.trail = ConfigTrail(
            self,
            "Trail",
            ConfigTrailProps(
                name=trail_name,
                bucket_name=resource_name(env.name, PLATFORM, f"trail-{env.account_id}"),
                account_id=env.account_id,
                region=env.region,
                kms_key_arn=self.key.arn,
                multi_region=env.pipeline.trail_multi_region,
            ),
        )
        self.appconfig = self._appconfig(env)
        self.service_config: dict[str, ServiceConfig] = {}
        self.event_names: dict[str, ConfigEventNames] = {}
        for spec in env.services:
            self.service_config[spec.name] = self._add_service(env, spec)
        self.reaper = self._reaper(env)
        TerraformOutput(self, "kms_key_arn", value=self.key.arn)
        TerraformOutput(self, "appconfig_application_id", value=self.appconfig.application_id)
        TerraformOutput(self, "appconfig_environment_id", value=self.appconfig.environment_id)

    def _key(self, env: EnvironmentSettings, trail_name: str) -> KmsKey:
        """The env key: secrets, topics and queues, AppConfig and the trail, each service
        principal scoped to this account."""
        return KmsKey(
            self,
            "Key",
            KmsKeyProps(
                alias=f"alias/{env.name}-{PLATFORM}-config",
                account_id=env.account_id,
                description=(
                    f"{env.name}: secrets, config-event topics and queues, AppConfig, trail"
                ),
                service_statements=(
                    eventbridge_statement(env.account_id),
                    sns_statement(env.account_id),
                    *cloudtrail_statements(
                        env.account_id, trail_arn(env.region, env.account_id, trail_name)
                    ),
                    via_services_statement(env.account_id, env.region, KEY_USERS_VIA),
                    logs_key_statement(env.region, env.account_id, reaper_name(env.name)),
                ),
            ),
        )

    def _reaper(self, env: EnvironmentSettings) -> OrphanReaper:
        """Removes the agent queues (and subscriptions) of the cluster's stopped tasks."""
        configs = [self.service_config[s.name] for s in env.services]
        reaper = OrphanReaper(
            self,
            "OrphanReaper",
            OrphanReaperProps(
                function_name=reaper_name(env.name),
                account_id=env.account_id,
                region=env.region,
                cluster_name=cluster_name(env.name),
                queue_prefixes=[c.queues.queue_name_prefix for c in configs],
                topic_arns=[c.queues.topic_arn for c in configs],
                kms_key_arn=self.key.arn,
                sweep_minutes=env.pipeline.orphan_sweep_minutes,
                grace_seconds=env.pipeline.orphan_grace_seconds,
            ),
        )
        alarm_topic = env.pipeline.alarm_topic_arn
        DeadLetterAlarm(
            self,
            "OrphanReaperDeadLetterAlarm",
            DeadLetterAlarmProps(
                alarm_name=resource_name(env.name, PLATFORM, "orphan-reaper-dlq-not-empty"),
                queue_name=reaper.dlq_name,
                description="orphan-queue reaper invocations failed: see docs/config-pipeline.md",
                actions=(alarm_topic,) if alarm_topic else (),
            ),
        )
        return reaper

    def _appconfig(self, env: EnvironmentSettings) -> AppConfigApp:
        p = env.pipeline
        return AppConfigApp(
            self,
            "AppConfig",
            AppConfigAppProps(
                application_name=resource_name(env.name, PLATFORM, "config"),
                environment_name=env.name,
                strategy_name=resource_name(
                    env.name, PLATFORM, f"{p.deployment_strategy.value}".replace("_", "-")
                ),
                strategy=p.deployment_strategy,
                deployment_minutes=p.deployment_minutes,
                bake_minutes=p.bake_minutes,
                monitor_alarm_arns=p.appconfig_alarm_arns,
            ),
        )

    def _add_service(self, env: EnvironmentSettings, spec: ServiceSpec) -> ServiceConfig:
        """The service's profile, secrets, topic + DLQ (+ its alarm) and event rules; what its
        tasks get from them."""
        p, cid = env.pipeline, pascal_case(spec.name)
        names = self.event_names[spec.name] = config_event_names(
            env.name, spec.name, spec.config_profile is not None
        )
        profile = self._profile(spec)
        secrets = self._secrets(env, spec)
        topic = self._topic(env, spec, names)
        rules = ServiceEventRules(
            self,
            f"{cid}Events",
            ServiceEventRulesProps(
                env=env.name,
                service=spec.name,
                account_id=env.account_id,
                region=env.region,
                topic=topic,
                secret_rule_name=names.secret_rule,
                deployment_rule_name=names.deployment_rule,
                profile=profile.ref if profile else None,
            ),
        )
        topic.allow_event_rules(rules.rule_arns)
        self._dead_letter_alarm(env, spec, topic)
        self._service_outputs(spec.name, topic, profile)
        return ServiceConfig(
            service=spec.name,
            account_id=env.account_id,
            region=env.region,
            key_arn=self.key.arn,
            queues=topic.agent_queues,
            token_secret_arn=secrets.agent_token_arn,
            secret_arns=secrets.arns,
            profile=profile.ref if profile else None,
            safety_refresh_seconds=p.agent_safety_refresh_seconds,
        )

    def _secrets(self, env: EnvironmentSettings, spec: ServiceSpec) -> ServiceSecrets:
        """The service's secrets and its agent token, under the pipeline's key."""
        p, cid = env.pipeline, pascal_case(spec.name)
        return ServiceSecrets(
            self,
            f"{cid}Secrets",
            ServiceSecretsProps(
                env=env.name,
                service=spec.name,
                names=spec.secrets,
                kms_key_arn=self.key.arn,
                recovery_window_days=p.secret_recovery_days,
            ),
        )

    def _topic(
        self, env: EnvironmentSettings, spec: ServiceSpec, names: ConfigEventNames
    ) -> ConfigTopic:
        """The service's config-event topic, its DLQ, and its agents' queue prefix."""
        p, cid = env.pipeline, pascal_case(spec.name)
        return ConfigTopic(
            self,
            f"{cid}Topic",
            ConfigTopicProps(
                topic_name=names.topic,
                dlq_name=names.dlq,
                queue_name_prefix=agent_queue_prefix(env.name, spec.name),
                kms_key_arn=self.key.arn,
                max_receive_count=p.dlq_max_receive_count,
            ),
        )

    def _dead_letter_alarm(
        self, env: EnvironmentSettings, spec: ServiceSpec, topic: ConfigTopic
    ) -> None:
        """Alarm (to the pipeline's alarm topic, if any) when config events land in the DLQ."""
        p, cid = env.pipeline, pascal_case(spec.name)
        DeadLetterAlarm(
            self,
            f"{cid}DeadLetterAlarm",
            DeadLetterAlarmProps(
                alarm_name=resource_name(env.name, spec.name, "config-events-dlq-not-empty"),
                queue_name=topic.dlq_name,
                description=(
                    f"{spec.name} config events failed (agent queue redrive or "
                    "EventBridge delivery): see docs/config-pipeline.md"
                ),
                actions=(p.alarm_topic_arn,) if p.alarm_topic_arn else (),
            ),
        )

    def _profile(self, spec: ServiceSpec) -> HostedProfile | None:
        """The service's hosted profile, deployed once at creation; None without one."""
        if spec.config_profile is None:
            return None
        c = spec.config_profile
        return HostedProfile(
            self,
            f"{pascal_case(spec.name)}Profile",
            self.appconfig,
            HostedProfileProps(
                name=f"{spec.name}-{c.name}",
                json_schema=c.json_schema,
                initial_content_json=c.initial_content_json,
                kms_key_arn=self.key.arn,
                type=c.type,
                description=f"{spec.name} runtime configuration",
            ),
        )

    def _service_outputs(
        self, service: str, topic: ConfigTopic, profile: HostedProfile | None
    ) -> None:
        prefix = service.replace("-", "_")
        TerraformOutput(self, f"{prefix}_topic_arn", value=topic.arn)
        TerraformOutput(self, f"{prefix}_dlq_arn", value=topic.dlq_arn)
        if profile is not None:
            TerraformOutput(self, f"{prefix}_profile_id", value=profile.profile_id)
