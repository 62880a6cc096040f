"""Application Auto Scaling for one ECS service: target tracking on CPU and memory, plus the
optional policies a service asks for (`scale_on_backlog`, `scale_on_requests`,
`scale_on_schedule`), in the style of aws-cdk's `ScalableTaskCount`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from engine.aws import appautoscaling_policy as policies
from engine.aws.appautoscaling_policy import AppautoscalingPolicy
from engine.aws.appautoscaling_scheduled_action import (
    AppautoscalingScheduledAction,
)
from engine.aws.appautoscaling_target import AppautoscalingTarget
from engine.core import TerraformResourceLifecycle
from settings.rules import percent_problem, task_count_problem

if TYPE_CHECKING:
    from modules.ecs_service import EcsService
    from modules.load_balancer import LoadBalancerMetrics
    from modules.work_queue import WorkQueue

SCALABLE_DIMENSION = "ecs:service:DesiredCount"
SERVICE_NAMESPACE = "ecs"
SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300
"""Scale out fast, in slowly: a premature scale-in costs more than a minute of extra tasks."""
QUEUE_METRIC = "ApproximateNumberOfMessagesVisible"
_CUSTOM = (
    "AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification"
)
Metrics = getattr(policies, f"{_CUSTOM}Metrics")
MetricStat = getattr(policies, f"{_CUSTOM}MetricsMetricStat")
Metric = getattr(policies, f"{_CUSTOM}MetricsMetricStatMetric")
Dimension = getattr(policies, f"{_CUSTOM}MetricsMetricStatMetricDimensions")
"""The typed structs of a metric-math target tracking policy (names too long to import)."""
RUNNING_TASKS_NAMESPACE = "ECS/ContainerInsights"
"""Container Insights (on for every cluster here) publishes RunningTaskCount per service."""


@dataclass(frozen=True)
class ServiceAutoscalingProps:
    """Which service, its task bounds and the CPU/memory targets it tracks."""

    service: EcsService
    """Its name `<env>-<service>` prefixes policy and action names."""
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int
    """Average CPU utilization the service is scaled to keep."""
    memory_target_percent: int
    """Average memory utilization the service is scaled to keep."""


def _metric_stat(stat: str, namespace: str, metric_name: str, **dimensions: str) -> Any:
    return MetricStat(
        stat=stat,
        metric=Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions=[Dimension(name=k, value=v) for k, v in dimensions.items()],
        ),
    )


def resource_id(cluster_name: str, service_name: str) -> str:
    """`service/<cluster>/<service>`: how Application Auto Scaling names an ECS service."""
    return f"service/{cluster_name}/{service_name}"


class ServiceAutoscaling(Construct):
    """Scalable target with target tracking on CPU and memory; methods add other signals."""

    def __init__(self, scope: Construct, id_: str, props: ServiceAutoscalingProps) -> None:
        super().__init__(scope, id_)
        bounds = task_count_problem(props.min_tasks, props.max_tasks, props.min_tasks)
        problem = (
            (bounds and bounds[1])
            or percent_problem(props.cpu_target_percent)
            or percent_problem(props.memory_target_percent)
        )
        if problem:
            raise ValueError(f"{props.service.name}: {problem}")
        self._props = props
        self._name = props.service.name
        self._dimensions = {
            "ClusterName": props.service.cluster_name,
            "ServiceName": props.service.service_name,
        }
        """Of the service's Container Insights metrics (the ECS service's name, a token)."""
        self.target = AppautoscalingTarget(
            self,
            "Target",
            service_namespace=SERVICE_NAMESPACE,
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=resource_id(props.service.cluster_name, props.service.service_name),
            min_capacity=props.min_tasks,
            max_capacity=props.max_tasks,
        )
        self.policies: list[AppautoscalingPolicy] = []
        self.scheduled_actions: list[AppautoscalingScheduledAction] = []
        for construct_id, metric, value in (
            ("Cpu", "ECSServiceAverageCPUUtilization", props.cpu_target_percent),
            ("Memory", "ECSServiceAverageMemoryUtilization", props.memory_target_percent),
        ):
            self._track(
                construct_id,
                construct_id.lower(),
                value,
                {"predefined_metric_specification": {"predefined_metric_type": metric}},
            )

    def _target_args(self) -> dict[str, Any]:
        return {
            "resource_id": self.target.resource_id,
            "scalable_dimension": self.target.scalable_dimension,
            "service_namespace": self.target.service_namespace,
        }

    def _track(
        self, construct_id: str, suffix: str, target_value: float, metric: dict[str, Any]
    ) -> AppautoscalingPolicy:
        policy = AppautoscalingPolicy(
            self,
            f"{construct_id}TargetTracking",
            name=f"{self._name}-{suffix}",
            policy_type="TargetTrackingScaling",
            **self._target_args(),
            target_tracking_scaling_policy_configuration={
                "target_value": target_value,
                "scale_in_cooldown": SCALE_IN_COOLDOWN,
                "scale_out_cooldown": SCALE_OUT_COOLDOWN,
                **metric,
            },
        )
        self.policies.append(policy)
        return policy

    def scale_on_backlog(self, queue: WorkQueue, backlog_per_task: int) -> AppautoscalingPolicy:
        """Track visible messages per running task (metric math), as AWS's own example for
        an SQS-driven ECS service does (Application Auto Scaling User Guide, "Create a target
        tracking scaling policy using metric math"): unlike a depth threshold it adds tasks
        in proportion to the backlog and needs no tuning per traffic level."""
        # Blocks inside blocks reach Terraform only as typed structs, not plain dicts.
        visible = Metrics(
            id="visible",
            label="visible messages",
            return_data=False,
            metric_stat=_metric_stat("Sum", "AWS/SQS", QUEUE_METRIC, QueueName=queue.name),
        )
        backlog = Metrics(
            id="backlog", label="backlog per task", return_data=True, expression="visible / running"
        )
        return self._track(
            "Backlog",
            "backlog",
            backlog_per_task,
            {"customized_metric_specification": {"metrics": [visible, self._running(), backlog]}},
        )

    def _running(self) -> Any:
        """The service's running tasks, the divisor of every per-task metric."""
        return Metrics(
            id="running",
            label="running tasks",
            return_data=False,
            metric_stat=_metric_stat(
                "Average", RUNNING_TASKS_NAMESPACE, "RunningTaskCount", **self._dimensions
            ),
        )

    def scale_on_requests(
        self, metrics: LoadBalancerMetrics, requests_per_target: int
    ) -> AppautoscalingPolicy:
        """Track the ALB's requests per task per minute.

        With one target group this is the predefined ALBRequestCountPerTarget. A
        traffic-shifting service has two, and production traffic sits in either after a
        deployment, so it tracks their summed RequestCount over its running tasks (metric
        math) instead of a group that may be idle.
        """
        groups = metrics.target_groups
        if len(groups) == 1:
            return self._track(
                "Requests",
                "requests",
                requests_per_target,
                {
                    "predefined_metric_specification": {
                        "predefined_metric_type": "ALBRequestCountPerTarget",
                        "resource_label": f"{metrics.load_balancer}/{groups[0]}",
                    }
                },
            )
        requests = [
            Metrics(
                id=f"requests{i}",
                label=f"requests, target group {i}",
                return_data=False,
                metric_stat=_metric_stat(
                    "Sum",
                    "AWS/ApplicationELB",
                    "RequestCount",
                    LoadBalancer=metrics.load_balancer,
                    TargetGroup=group,
                ),
            )
            for i, group in enumerate(groups)
        ]
        total = " + ".join(f"FILL({m.id}, 0)" for m in requests)
        per_task = Metrics(
            id="per_task",
            label="requests per task",
            return_data=True,
            expression=f"({total}) / running",
        )
        return self._track(
            "Requests",
            "requests",
            requests_per_target,
            {
                "customized_metric_specification": {
                    "metrics": [*requests, self._running(), per_task]
                }
            },
        )

    def scale_on_schedule(
        self, *, scale_in_at: str, scale_out_at: str, timezone: str, off_hours_min_tasks: int
    ) -> None:
        """Lower the minimum outside working hours and restore it at their start.

        The schedules own the target's bounds from then on: Terraform ignores later changes
        of `min_capacity`/`max_capacity` (else an apply at night would undo the off-hours
        action), and a changed `ScalingSpec` takes effect at the next working-hours action.
        """
        p = self._props
        off = off_hours_bounds(min(off_hours_min_tasks, p.min_tasks), p.max_tasks)
        for construct_id, suffix, schedule, (minimum, maximum) in (
            ("OffHours", "off-hours", scale_in_at, off),
            ("WorkingHours", "working-hours", scale_out_at, (p.min_tasks, p.max_tasks)),
        ):
            self.scheduled_actions.append(
                AppautoscalingScheduledAction(
                    self,
                    construct_id,
                    name=f"{self._name}-{suffix}",
                    schedule=schedule,
                    timezone=timezone,
                    **self._target_args(),
                    scalable_target_action={
                        "min_capacity": str(minimum),
                        "max_capacity": str(maximum),
                    },
                )
            )
        self.target.lifecycle = TerraformResourceLifecycle(
            ignore_changes=["min_capacity", "max_capacity"]
        )


def off_hours_bounds(min_tasks: int, max_tasks: int) -> tuple[int, int]:
    """(min, max) of the off-hours action. Target tracking never scales a service to 0 tasks:
    it sizes capacity to metric / target rounded up, so any load (an idle task still uses
    memory) keeps at least one task, and it scales in only when every policy agrees
    (Application Auto Scaling User Guide, "How target tracking scaling works"). A minimum of 0
    is therefore reached by lowering the maximum to 0 too: "if the current capacity is above
    the maximum capacity, Application Auto Scaling scales in to the maximum capacity"
    (API reference, PutScheduledAction `ScalableTargetAction`). A minimum of 1 or more is one
    target tracking reaches, so the maximum stays."""
    return (0, 0) if min_tasks == 0 else (min_tasks, max_tasks)
