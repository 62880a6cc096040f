"""What an `EcsService` is built from, and what a load balancer hands it when it attaches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.core import TerraformResource
from modules.ecs_cluster import ClusterRef
from modules.task_definition import ConfigAgentSidecar, ContainerProps
from settings.services import DeploymentSpec

if TYPE_CHECKING:
    from modules.work_queue import WorkQueue

DEFAULT_LOG_RETENTION_DAYS = 30


@dataclass(frozen=True)
class TaskPlacement:
    """Where a service's tasks run (strings may be tokens)."""

    vpc_id: str
    subnet_ids: Sequence[str]
    """Private subnets: each task gets its own ENI (awsvpc), never a public IP."""
    capacity_provider_strategy: Sequence[tuple[str, int, int]]
    """(capacity provider name, base, weight) items, all of one CPU architecture."""
    architecture: str = "x86_64"
    """`x86_64` or `arm64`: the task's runtime platform, matching those providers' instances."""


@dataclass(frozen=True)
class EcsServiceProps:
    """One service: its container and sidecar, where it runs and how it deploys. Everything
    else is wired with methods (`LoadBalancer.add_target`, `enable_cloud_map`, ...)."""

    env: str
    name: str
    """The service's short name (e.g. `web`): its container, and `<env>-<name>` everywhere."""
    cluster: ClusterRef
    placement: TaskPlacement
    container: ContainerProps
    agent: ConfigAgentSidecar
    """Its `config.service` must be `name`."""
    desired_count: int = 1
    """Tasks at creation; Application Auto Scaling owns the count afterwards."""
    deployment: DeploymentSpec = field(default_factory=DeploymentSpec)
    """ROLLING by default; a traffic-shifting strategy needs `LoadBalancer.add_target`."""
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    """Retention of the log group `/ecs/<env>-<name>` both containers write to."""
    work_queue: WorkQueue | None = None
    """The service's own job queue: the task may consume it, the app gets `WORK_QUEUE_URL`;
    None: none."""


@dataclass(frozen=True)
class TrafficShift:
    """What ECS needs to shift one service's traffic (the service's `advanced_configuration`)."""

    alternate_target_group_arn: str
    production_listener_rule_arn: str
    role_arn: str
    test_listener_rule_arn: str | None = None
    """The test listener's rule, which ECS points at the new revision first; None: no test
    listener."""


@dataclass(frozen=True)
class TargetGroupAttachment:
    """What `LoadBalancer.add_target` hands the service it puts behind a target group."""

    target_group_arn: str
    security_group_id: str
    """The ALB's security group: the only source the task SG admits on the container port."""
    depends_on: Sequence[TerraformResource]
    """Listeners, rules and grants the service waits for: ECS refuses a target group that no
    listener forwards to, and the traffic-shift role must be usable at the first deployment."""
    traffic_shift: TrafficShift | None = None
    """Set for a service whose deployment shifts traffic (BLUE_GREEN, CANARY, LINEAR)."""
