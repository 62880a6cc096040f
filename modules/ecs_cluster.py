"""ECS cluster with Container Insights and a default capacity provider strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from engine.aws.ecs_cluster import EcsCluster as AwsEcsCluster
from engine.aws.ecs_cluster import (
    EcsClusterConfigurationExecuteCommandConfiguration,
    EcsClusterConfigurationExecuteCommandConfigurationLogConfiguration,
    EcsClusterSetting,
)
from engine.aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from modules.exec_audit import ExecAccess, ExecAudit
from settings.rules import capacity_strategy_problem

CONTAINER_INSIGHTS = "enhanced"
"""Container Insights with enhanced observability (task/container level metrics)."""


@dataclass(frozen=True)
class ClusterRef:
    """The cluster a service runs in (tokens from the cluster stack are fine): its name and
    ARN, the account and region its tasks' ARNs and trust conditions name, its exec audit."""

    arn: str
    name: str
    account_id: str
    region: str
    exec_access: ExecAccess | None = None
    """Where ECS Exec sessions are encrypted and logged; None: exec is off for its services."""


@dataclass(frozen=True)
class EcsClusterProps:
    """Cluster name; capacity is attached afterwards with `use_capacity_provider`."""

    name: str


class EcsCluster(Construct):
    """The ECS cluster; services place tasks on it through its default strategy."""

    def __init__(self, scope: Construct, id_: str, props: EcsClusterProps) -> None:
        super().__init__(scope, id_)
        self.cluster = AwsEcsCluster(
            self,
            "Cluster",
            name=props.name,
            setting=[EcsClusterSetting(name="containerInsights", value=CONTAINER_INSIGHTS)],
        )
        self.name = props.name
        self.arn = self.cluster.arn
        self.exec_audit: ExecAudit | None = None

    def enable_exec_auditing(self, audit: ExecAudit) -> None:
        """Encrypt ECS Exec sessions with the audit key and log every session's commands and
        output to its KMS-encrypted log group (API reference, ExecuteCommandConfiguration:
        logging OVERRIDE needs the log configuration)."""
        self.cluster.put_configuration(
            execute_command_configuration=EcsClusterConfigurationExecuteCommandConfiguration(
                kms_key_id=audit.key_arn,
                logging="OVERRIDE",
                log_configuration=(
                    EcsClusterConfigurationExecuteCommandConfigurationLogConfiguration(
                        cloud_watch_log_group_name=audit.log_group_name,
                        cloud_watch_encryption_enabled=True,
                    )
                ),
            )
        )
        self.exec_audit = audit

    def use_capacity_providers(
        self,
        capacity_provider_names: Sequence[str],
        default_strategy: Sequence[tuple[str, int, int]],
    ) -> EcsClusterCapacityProviders:
        """Associate capacity providers; `default_strategy` is (provider, base, weight) items,
        what tasks started without a strategy of their own use."""
        for _, base, weight in default_strategy:
            if problem := capacity_strategy_problem(base, weight):
                raise ValueError(f"{problem[0]}: {problem[1]}")
        return EcsClusterCapacityProviders(
            self,
            "CapacityProviders",
            cluster_name=self.cluster.name,
            capacity_providers=list(capacity_provider_names),
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                    capacity_provider=name, base=base, weight=weight
                )
                for name, base, weight in default_strategy
            ],
        )
