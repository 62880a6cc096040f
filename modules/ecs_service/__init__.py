"""One ECS service (app + config-agent sidecar), split by concern: `props` (what it is built
from), `service` (the construct and its wiring methods), `roles` (IAM), `security_groups`
(task and database SGs, SG-to-SG rules), `deployment` (strategy, load balancer and Service
Connect blocks). The containers themselves are `modules/task_definition.py`."""

from modules.ecs_service.props import (
    EcsServiceProps,
    TargetGroupAttachment,
    TaskPlacement,
    TrafficShift,
)
from modules.ecs_service.service import EcsService, service_name

__all__ = [
    "EcsService",
    "EcsServiceProps",
    "TargetGroupAttachment",
    "TaskPlacement",
    "TrafficShift",
    "service_name",
]
