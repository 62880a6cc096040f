"""ECS cluster with Container Insights and a default capacity provider strategy."""

from __future__ import annotations

from dataclasses import dataclass

from engine.aws.ecs_cluster import EcsCluster as AwsEcsCluster
from engine.aws.ecs_cluster import EcsClusterSetting
from engine.aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from constructs import Construct

from settings.rules import capacity_strategy_problem

CONTAINER_INSIGHTS = "enhanced"
"""Container Insights with enhanced observability (task/container level metrics)."""


@dataclass(frozen=True)
class EcsClusterProps:
    """Cluster name; capacity is attached afterwards with `use_capacity_provider`."""

    name: str


class EcsCluster(Construct):
    """The ECS cluster; services place tasks on it through its default strategy."""

    def __init__(self, scope: Construct, id_: str, props: EcsClusterProps) -> None:
        super().__init__(scope, id_)
        self.cluster = AwsEcsCluster(self, "Cluster", name=props.name, setting=[
            EcsClusterSetting(name="containerInsights", value=CONTAINER_INSIGHTS)])
        self.name = props.name
        self.arn = self.cluster.arn

    def use_capacity_provider(self, capacity_provider_name: str, *, base: int,
                              weight: int) -> EcsClusterCapacityProviders:
        """Associate a capacity provider and make it the cluster's default strategy."""
        if problem := capacity_strategy_problem(base, weight):
            raise ValueError(f"{problem[0]}: {problem[1]}")
        return EcsClusterCapacityProviders(
            self, "CapacityProviders", cluster_name=self.cluster.name,
            capacity_providers=[capacity_provider_name],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                    capacity_provider=capacity_provider_name, base=base, weight=weight)])
