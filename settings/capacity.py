"""Where tasks run: the env's capacity groups and each CPU architecture's placement strategy.

One source for the cluster stack (groups, the cluster's default strategy), the services stack
(each service's strategy and `runtime_platform`), the image builds (which platforms an image
needs) and the settings validation (a service's architecture must have capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.aws_catalog import TASK_ENIS
from settings.rules import instance_architecture

if TYPE_CHECKING:
    from settings.schema import ClusterSettings, EnvironmentSettings
    from settings.services import ServiceSpec

ON_DEMAND, SPOT, GRAVITON = "on_demand", "spot", "graviton"
"""Capacity group keys; the cluster stack names one Auto Scaling group and provider each."""


@dataclass(frozen=True)
class StrategyItem:
    """One entry of an ECS capacity provider strategy, naming a group by key."""

    group: str
    base: int
    weight: int


def primary_architecture(cluster: ClusterSettings) -> str:
    """The CPU architecture of the on-demand group (and of the Spot group, if any)."""
    return instance_architecture(cluster.instance_type)


def strategies(cluster: ClusterSettings) -> dict[str, tuple[StrategyItem, ...]]:
    """{architecture: strategy}: `base` tasks on on-demand, the rest over the groups of that
    architecture by weight. arm64 services on an x86 cluster run on the Graviton group only."""
    primary = [
        StrategyItem(ON_DEMAND, cluster.capacity_provider_base, cluster.capacity_provider_weight)
    ]
    if cluster.spot is not None:
        primary.append(StrategyItem(SPOT, 0, cluster.spot.weight))
    plan = {primary_architecture(cluster): tuple(primary)}
    if cluster.graviton is not None:
        plan["arm64"] = (StrategyItem(GRAVITON, 0, 1),)
    return plan


def service_architecture(spec: ServiceSpec, cluster: ClusterSettings) -> str:
    """The service's declared architecture, else the on-demand group's."""
    return spec.architecture or primary_architecture(cluster)


DEPLOY_SURGE_PERCENT = 200
"""Tasks a deployment may run, as a share of the service's count: a rolling deployment's
`maximumPercent` (modules/ecs_service/service.py MAX_PERCENT; a test keeps them equal), and a
blue/green one starts the whole new revision beside the old."""


def _group_slots(cluster: ClusterSettings) -> dict[str, list[tuple[str, str, int]]]:
    """{architecture: [(field, instance type, max instances)]} of every capacity group."""
    primary = primary_architecture(cluster)
    groups = {primary: [("cluster.instance_type", cluster.instance_type, cluster.asg_max)]}
    if cluster.spot is not None:
        groups[primary] += [
            ("cluster.spot.instance_types", t, cluster.spot.max_size)
            for t in cluster.spot.instance_types
        ]
    if cluster.graviton is not None:
        groups["arm64"] = [
            (
                "cluster.graviton.instance_type",
                cluster.graviton.instance_type,
                cluster.graviton.max_size,
            )
        ]
    return groups


def _supply(groups: list[tuple[str, str, int]], trunking: bool) -> tuple[int, list[str]]:
    """Task ENIs the groups hold at their maximum size (a Spot group counts at its least
    dense type: Spot may fill it with any of them), and a description of each."""
    by_field: dict[str, tuple[int, int, str]] = {}
    for field, instance_type, size in groups:
        slots = TASK_ENIS[instance_type].slots(trunking)
        if field not in by_field or slots < by_field[field][0]:
            by_field[field] = (slots, size, instance_type)
    total = sum(slots * size for slots, size, _ in by_field.values())
    return total, [f"{size} x {t} ({slots} each)" for slots, size, t in by_field.values()]


def placement_problem(env: EnvironmentSettings) -> tuple[str, str] | None:
    """(field, reason) when the env's groups at maximum size cannot hold every service at its
    maximum task count during a deployment: every task is awsvpc (an ENI each), so an instance
    holds as many tasks as it has task ENIs (settings/aws_catalog.py TASK_ENIS). Tasks beyond
    that sit in PROVISIONING and roll the deployment back."""
    trunking = env.cluster.awsvpc_trunking
    for arch, groups in _group_slots(env.cluster).items():
        for field, instance_type, _ in groups:
            if instance_type not in TASK_ENIS:
                return field, (
                    f"{instance_type!r} has no task-ENI numbers yet: add its network "
                    "interface limit and ENI trunking support to TASK_ENIS in "
                    "settings/aws_catalog.py (its docstring says where to look)"
                )
        tasks = sum(
            s.scaling.max_tasks
            for s in env.services
            if service_architecture(s, env.cluster) == arch
        )
        needed = -(-tasks * DEPLOY_SURGE_PERCENT // 100)
        supply, described = _supply(groups, trunking)
        if needed > supply:
            field = groups[0][0]
            return field, (
                f"{arch} services scale to {tasks} tasks, {needed} during a deployment "
                f"({DEPLOY_SURGE_PERCENT} %), but their instances at maximum size hold "
                f"{supply} awsvpc tasks ({', '.join(described)}; awsvpc_trunking "
                f"{'on' if trunking else 'off'}): raise the groups' maximum size, lower "
                "max_tasks, or use types with ENI trunking (e.g. m6i.large: 10 tasks each)"
            )
    return None
