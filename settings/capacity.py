"""Where tasks run: the env's capacity groups and each CPU architecture's placement strategy.

One source for the cluster stack (groups, the cluster's default strategy), the services stack
(each service's strategy and `runtime_platform`), the image builds (which platforms an image
needs) and the settings validation (a service's architecture must have capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.rules import instance_architecture

if TYPE_CHECKING:
    from settings.schema import ClusterSettings
    from settings.services import ServiceSpec

ON_DEMAND, SPOT, GRAVITON = "on_demand", "spot", "graviton"
"""Capacity group keys; the cluster stack names one Auto Scaling group and provider each."""


@dataclass(frozen=True)
class StrategyItem:
    """One entry of an ECS capacity provider strategy, naming a group by key."""

    group: str
    base: int
    weight: int


def primary_architecture(cluster: "ClusterSettings") -> str:
    """The CPU architecture of the on-demand group (and of the Spot group, if any)."""
    return instance_architecture(cluster.instance_type)


def strategies(cluster: "ClusterSettings") -> dict[str, tuple[StrategyItem, ...]]:
    """{architecture: strategy}: `base` tasks on on-demand, the rest over the groups of that
    architecture by weight. arm64 services on an x86 cluster run on the Graviton group only."""
    primary = [StrategyItem(ON_DEMAND, cluster.capacity_provider_base,
                            cluster.capacity_provider_weight)]
    if cluster.spot is not None:
        primary.append(StrategyItem(SPOT, 0, cluster.spot.weight))
    plan = {primary_architecture(cluster): tuple(primary)}
    if cluster.graviton is not None:
        plan["arm64"] = (StrategyItem(GRAVITON, 0, 1),)
    return plan


def service_architecture(spec: "ServiceSpec", cluster: "ClusterSettings") -> str:
    """The service's declared architecture, else the on-demand group's."""
    return spec.architecture or primary_architecture(cluster)
