"""Application Auto Scaling for one ECS service: CPU/memory tracking, optional queue steps."""

from __future__ import annotations

from dataclasses import dataclass

from engine.aws.appautoscaling_policy import (
    AppautoscalingPolicy,
)
from engine.aws.appautoscaling_policy import (
    AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment as StepAdjustment,
)
from engine.aws.appautoscaling_target import AppautoscalingTarget
from engine.aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from settings.rules import percent_problem, queue_thresholds_problem, task_count_problem

SCALABLE_DIMENSION = "ecs:service:DesiredCount"
SERVICE_NAMESPACE = "ecs"
SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300
"""Scale out fast, in slowly: a premature scale-in costs more than a minute of extra tasks."""
QUEUE_METRIC = "ApproximateNumberOfMessagesVisible"
QUEUE_ALARM_PERIOD = 60
SCALE_OUT_EVALUATION_PERIODS = 2
SCALE_IN_EVALUATION_PERIODS = 5


@dataclass(frozen=True)
class QueueScaling:
    """Step scaling on a queue's visible-message count (worker backlog)."""

    queue_name: str
    scale_out_messages: int
    scale_in_messages: int


@dataclass(frozen=True)
class ServiceAutoscalingProps:
    """Which service, its task bounds and what to track."""

    name: str
    """`<env>-<service>`: prefix of policy and alarm names."""
    cluster_name: str
    service_name: str
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int
    memory_target_percent: int
    queue: QueueScaling | None = None


def resource_id(cluster_name: str, service_name: str) -> str:
    """`service/<cluster>/<service>`: how Application Auto Scaling names an ECS service."""
    return f"service/{cluster_name}/{service_name}"


class ServiceAutoscaling(Construct):
    """Scalable target + target tracking on CPU and memory (+ backlog step scaling for workers)."""

    def __init__(self, scope: Construct, id_: str, props: ServiceAutoscalingProps) -> None:
        super().__init__(scope, id_)
        bounds = task_count_problem(props.min_tasks, props.max_tasks, props.min_tasks)
        problem = ((bounds and bounds[1]) or percent_problem(props.cpu_target_percent)
                   or percent_problem(props.memory_target_percent)
                   or (props.queue and queue_thresholds_problem(props.queue.scale_in_messages,
                                                                props.queue.scale_out_messages)))
        if problem:
            raise ValueError(f"{props.name}: {problem}")
        self.target = AppautoscalingTarget(
            self, "Target", service_namespace=SERVICE_NAMESPACE,
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=resource_id(props.cluster_name, props.service_name),
            min_capacity=props.min_tasks, max_capacity=props.max_tasks)
        self.policies: list[AppautoscalingPolicy] = []
        for construct_id, metric, value in (
                ("Cpu", "ECSServiceAverageCPUUtilization", props.cpu_target_percent),
                ("Memory", "ECSServiceAverageMemoryUtilization", props.memory_target_percent)):
            self.policies.append(AppautoscalingPolicy(
                self, f"{construct_id}TargetTracking", name=f"{props.name}-{construct_id.lower()}",
                policy_type="TargetTrackingScaling", **self._target_args(),
                target_tracking_scaling_policy_configuration={
                    "target_value": value, "scale_in_cooldown": SCALE_IN_COOLDOWN,
                    "scale_out_cooldown": SCALE_OUT_COOLDOWN,
                    "predefined_metric_specification": {"predefined_metric_type": metric}}))
        self.alarms: list[CloudwatchMetricAlarm] = []
        if props.queue:
            self._queue_scaling(props.name, props.queue)

    def _target_args(self) -> dict[str, str]:
        return {"resource_id": self.target.resource_id,
                "scalable_dimension": self.target.scalable_dimension,
                "service_namespace": self.target.service_namespace}

    def _queue_scaling(self, name: str, q: QueueScaling) -> None:
        # Step bounds are offsets from the alarm threshold: +1 task up to twice the threshold,
        # +2 beyond it; one task at a time on the way down.
        out = self._step_policy("QueueScaleOut", f"{name}-queue-scale-out", SCALE_OUT_COOLDOWN, [
            StepAdjustment(metric_interval_lower_bound="0",
                           metric_interval_upper_bound=str(q.scale_out_messages),
                           scaling_adjustment=1),
            StepAdjustment(metric_interval_lower_bound=str(q.scale_out_messages),
                           scaling_adjustment=2)])
        scale_in = self._step_policy("QueueScaleIn", f"{name}-queue-scale-in", SCALE_IN_COOLDOWN, [
            StepAdjustment(metric_interval_upper_bound="0", scaling_adjustment=-1)])
        for construct_id, policy, comparison, threshold, periods, what in (
                ("QueueDepthHigh", out, "GreaterThanOrEqualToThreshold", q.scale_out_messages,
                 SCALE_OUT_EVALUATION_PERIODS, "backlog: add workers"),
                ("QueueDepthLow", scale_in, "LessThanOrEqualToThreshold", q.scale_in_messages,
                 SCALE_IN_EVALUATION_PERIODS, "queue drained: remove workers")):
            self.alarms.append(CloudwatchMetricAlarm(
                self, construct_id,
                alarm_name=f"{name}-queue-depth-{construct_id[len('QueueDepth'):].lower()}",
                alarm_description=f"{what} ({QUEUE_METRIC} of the work queue)",
                namespace="AWS/SQS", metric_name=QUEUE_METRIC,
                dimensions={"QueueName": q.queue_name}, statistic="Maximum",
                period=QUEUE_ALARM_PERIOD, evaluation_periods=periods, threshold=threshold,
                comparison_operator=comparison, treat_missing_data="notBreaching",
                alarm_actions=[policy.arn]))

    def _step_policy(self, construct_id: str, name: str, cooldown: int,
                     steps: list[StepAdjustment]) -> AppautoscalingPolicy:
        policy = AppautoscalingPolicy(
            self, construct_id, name=name, policy_type="StepScaling", **self._target_args(),
            step_scaling_policy_configuration={
                "adjustment_type": "ChangeInCapacity", "cooldown": cooldown,
                "metric_aggregation_type": "Maximum", "step_adjustment": steps})
        self.policies.append(policy)
        return policy
