"""AWS AppConfig: an application + environment + deployment strategy, and hosted JSON profiles."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from engine.aws.appconfig_application import AppconfigApplication
from engine.aws.appconfig_configuration_profile import (
    AppconfigConfigurationProfile,
    AppconfigConfigurationProfileValidator,
)
from engine.aws.appconfig_deployment import AppconfigDeployment
from engine.aws.appconfig_deployment_strategy import AppconfigDeploymentStrategy
from engine.aws.appconfig_environment import (
    AppconfigEnvironment,
    AppconfigEnvironmentMonitor,
)
from engine.aws.appconfig_hosted_configuration_version import (
    AppconfigHostedConfigurationVersion,
)
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.core import ITerraformDependable, Token
from modules.iam import assume_role_policy, policy_json, statement
from modules.service_config import ProfileRef
from settings import feature_flags
from settings.rules import appconfig_strategy_problem, config_profile_problem
from settings.schema import DeploymentStrategy
from settings.services import FEATURE_FLAGS, FREEFORM

LINEAR_GROWTH_PERCENT = 20
"""Linear rollouts reach 20% more of the targets per step: five equal steps."""
HOSTED_LOCATION = "hosted"
JSON_CONTENT_TYPE = "application/json"
"""Freeform JSON, and feature flags: AppConfig's flag format is JSON too."""


@dataclass(frozen=True)
class AppConfigAppProps:
    """One AppConfig application per env, its single environment and rollout strategy."""

    application_name: str
    environment_name: str
    strategy_name: str
    strategy: DeploymentStrategy
    deployment_minutes: int = 0
    """How long a LINEAR rollout takes (>= 1 there); default 0, what ALL_AT_ONCE needs."""
    bake_minutes: int = 0
    """Minutes AppConfig watches the alarms after a rollout; default 0: no bake."""
    monitor_alarm_arns: Sequence[str] = field(default_factory=tuple)
    """CloudWatch alarms that roll a deployment back when they go to ALARM; default none."""


def strategy_settings(
    strategy: DeploymentStrategy, deployment_minutes: int, bake_minutes: int
) -> dict[str, Any]:
    """Arguments of aws_appconfig_deployment_strategy for the env's chosen strategy."""
    if problem := appconfig_strategy_problem(strategy.value, deployment_minutes, bake_minutes):
        raise ValueError(f"{problem[0]}: {problem[1]}")
    growth = 100 if strategy is DeploymentStrategy.ALL_AT_ONCE else LINEAR_GROWTH_PERCENT
    return {
        "deployment_duration_in_minutes": deployment_minutes,
        "growth_factor": growth,
        "growth_type": "LINEAR",
        "final_bake_time_in_minutes": bake_minutes,
    }


class AppConfigApp(Construct):
    """Application, environment (with optional rollback alarms) and deployment strategy."""

    def __init__(self, scope: Construct, id_: str, props: AppConfigAppProps) -> None:
        super().__init__(scope, id_)
        settings = strategy_settings(props.strategy, props.deployment_minutes, props.bake_minutes)
        self.application = AppconfigApplication(
            self,
            "Application",
            name=props.application_name,
            description="Runtime configuration of this environment's services",
        )
        monitors = []
        if props.monitor_alarm_arns:
            role = IamRole(
                self,
                "MonitorRole",
                name=f"{props.application_name}-monitor",
                # The trust AppConfig documents for this role ("Configure
                # permissions for automatic rollback"): no conditions.
                assume_role_policy=assume_role_policy("appconfig.amazonaws.com"),
            )
            IamRolePolicy(
                self,
                "MonitorPolicy",
                role=role.id,
                name="describe-alarms",
                policy=policy_json(
                    statement(["cloudwatch:DescribeAlarms"], list(props.monitor_alarm_arns))
                ),
            )
            monitors = [
                AppconfigEnvironmentMonitor(alarm_arn=arn, alarm_role_arn=role.arn)
                for arn in props.monitor_alarm_arns
            ]
        self.environment = AppconfigEnvironment(
            self,
            "Environment",
            application_id=self.application.id,
            name=props.environment_name,
            monitor=monitors or None,
        )
        self.strategy = AppconfigDeploymentStrategy(
            self,
            "Strategy",
            name=props.strategy_name,
            replicate_to="NONE",
            description=f"{props.strategy.value} rollout",
            **settings,
        )
        self.application_id = self.application.id
        self.environment_id = self.environment.environment_id
        self.strategy_id = self.strategy.id
        self.last_deployment: ITerraformDependable | None = None
        """Newest deployment to this environment; the next one must wait for it, since AppConfig
        runs one deployment per environment at a time (ConflictException otherwise)."""


@dataclass(frozen=True)
class HostedProfileProps:
    """A hosted profile deployed once at creation: freeform JSON validated by a JSON schema,
    or feature flags (`type=FEATURE_FLAGS`, no validator: AppConfig checks its own format)."""

    name: str
    json_schema: Mapping[str, object]
    initial_content_json: str
    kms_key_arn: str
    description: str | None = None
    """Default none."""
    type: str = FREEFORM
    """Default FREEFORM (JSON with a schema); or FEATURE_FLAGS."""


class HostedProfile(Construct):
    """Profile + JSON-schema validator + first hosted version + its initial deployment."""

    def __init__(
        self, scope: Construct, id_: str, app: AppConfigApp, props: HostedProfileProps
    ) -> None:
        super().__init__(scope, id_)
        # The settings layer's rules, as this construct's invariants.
        flags = props.type == FEATURE_FLAGS
        content = json.loads(props.initial_content_json)
        reason = (
            feature_flags.problem(content)
            if flags
            else " ".join(config_profile_problem(props.json_schema, content) or ())
        )
        if reason:
            raise ValueError(f"profile {props.name!r}: {reason}")
        self.profile = AppconfigConfigurationProfile(
            self,
            "Profile",
            application_id=app.application_id,
            name=props.name,
            description=props.description,
            location_uri=HOSTED_LOCATION,
            type=props.type,
            kms_key_identifier=props.kms_key_arn,
            validator=None
            if flags
            else [
                AppconfigConfigurationProfileValidator(
                    type="JSON_SCHEMA", content=json.dumps(props.json_schema, sort_keys=True)
                )
            ],
        )
        self.version = AppconfigHostedConfigurationVersion(
            self,
            "InitialVersion",
            application_id=app.application_id,
            configuration_profile_id=self.profile.configuration_profile_id,
            content=props.initial_content_json,
            content_type=JSON_CONTENT_TYPE,
            description="Initial version; later versions are created out of band",
        )
        self.deployment = AppconfigDeployment(
            self,
            "InitialDeployment",
            application_id=app.application_id,
            environment_id=app.environment_id,
            deployment_strategy_id=app.strategy_id,
            configuration_profile_id=self.profile.configuration_profile_id,
            configuration_version=Token.as_string(self.version.version_number),
            kms_key_identifier=props.kms_key_arn,
            description="Initial deployment so the agent has a configuration to fetch",
            depends_on=[app.last_deployment] if app.last_deployment else None,
        )
        app.last_deployment = self.deployment
        self.profile_id = self.profile.configuration_profile_id
        self.ref = ProfileRef(
            application_id=app.application_id,
            environment_id=app.environment_id,
            profile_id=self.profile_id,
        )
        """What a service's tasks read the profile by (variables, task role)."""
