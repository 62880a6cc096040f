"""The alarms one ECS service's deployments roll back on, chosen by the kind of service.

Every service gets "running tasks below desired"; methods add what matters for its kind: the
ALB's view of it (`watch_target_groups`: 5xx rate, unhealthy targets, p99 latency) and its work
queue (`watch_queue`: age of the oldest message). `EcsService.enable_deployment_alarms` hands
`.alarm_names` to ECS, which fails and rolls back a deployment while one is in ALARM (ECS
Developer Guide, "How CloudWatch alarms detect Amazon ECS deployment failures").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs import Construct

from engine.aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from settings.rules import MAX_MIN_REQUESTS_PER_MINUTE, between_problem
from settings.services import AlarmSpec

if TYPE_CHECKING:
    from modules.ecs_service import EcsService
    from modules.load_balancer import LoadBalancerMetrics
    from modules.work_queue import WorkQueue

MINUTE = 60
SQS_PERIOD = 300
"""SQS publishes queue metrics every 5 minutes; a shorter period only sees gaps."""
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
ALB = "AWS/ApplicationELB"


@dataclass(frozen=True)
class ServiceAlarmsProps:
    """Which service, its thresholds and whom the alarms notify."""

    service: EcsService
    """Its name `<env>-<service>` prefixes every alarm name."""
    thresholds: AlarmSpec = field(default_factory=AlarmSpec)
    """Default: AlarmSpec's documented defaults."""
    actions: Sequence[str] = field(default_factory=tuple)
    """ARNs notified on ALARM and on OK (the env's alarm topic); default none: the alarms
    only change state (and still roll deployments back)."""


def _metric(
    query_id: str, namespace: str, metric_name: str, stat: str, period: int, **dimensions: str
) -> CloudwatchMetricAlarmMetricQuery:
    return CloudwatchMetricAlarmMetricQuery(
        id=query_id,
        return_data=False,
        metric=CloudwatchMetricAlarmMetricQueryMetric(
            namespace=namespace,
            metric_name=metric_name,
            stat=stat,
            period=period,
            dimensions=dimensions,
        ),
    )


def _expression(
    label: str, expression: str, query_id: str = "result", returned: bool = True
) -> CloudwatchMetricAlarmMetricQuery:
    return CloudwatchMetricAlarmMetricQuery(
        id=query_id, label=label, expression=expression, return_data=returned
    )


def guarded_rate(errors: str, requests: str, min_requests: int) -> str:
    """Metric math: percent of `requests` answered with `errors` in each period, or 0 when the
    period has fewer than `min_requests` (or none: FILL makes a missing count 0; the ALB
    publishes no 5xx count while there are none). IF, FILL and MAX are CloudWatch metric math
    functions (CloudWatch User Guide, "Using math expressions with CloudWatch metrics",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)."""
    return (
        f"IF(FILL({requests}, 0) >= {min_requests}, "
        f"100 * FILL({errors}, 0) / FILL({requests}, 0), 0)"
    )


def worst_of(ids: Sequence[str]) -> str:
    """Metric math: the highest of several series at each period (MAX of an array of series
    is a series), or the one series."""
    return ids[0] if len(ids) == 1 else f"MAX([{', '.join(ids)}])"


def _sum(ids: Sequence[str]) -> str:
    """Metric math: the sum of several series, a missing datapoint counting as 0."""
    return " + ".join(f"FILL({i}, 0)" for i in ids)


class ServiceAlarms(Construct):
    """Deployment alarms of one service; `.alarm_names` is what its deployments watch."""

    def __init__(self, scope: Construct, id_: str, props: ServiceAlarmsProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        self._name = props.service.name
        self.alarms: list[CloudwatchMetricAlarm] = []
        t = props.thresholds
        # Missing tasks: a crash loop, or tasks that cannot be placed. Container Insights (on
        # for every cluster here) publishes both counts each minute.
        dims = {"ClusterName": props.service.cluster_name, "ServiceName": self._name}
        self._alarm(
            "RunningBelowDesired",
            "running-below-desired",
            f"fewer tasks running than desired for {t.missing_tasks_minutes} minutes",
            [
                _metric(
                    "running", CONTAINER_INSIGHTS, "RunningTaskCount", "Minimum", MINUTE, **dims
                ),
                _metric(
                    "desired", CONTAINER_INSIGHTS, "DesiredTaskCount", "Maximum", MINUTE, **dims
                ),
                _expression("tasks missing", "desired - running"),
            ],
            threshold=0,
            minutes=t.missing_tasks_minutes,
        )

    @property
    def alarm_names(self) -> list[str]:
        return [alarm.alarm_name for alarm in self.alarms]

    @property
    def alarm_arns(self) -> list[str]:
        return [alarm.arn for alarm in self.alarms]

    def _alarm(
        self,
        construct_id: str,
        suffix: str,
        description: str,
        queries: list[CloudwatchMetricAlarmMetricQuery],
        *,
        threshold: float,
        minutes: int,
        period: int = MINUTE,
    ) -> CloudwatchMetricAlarm:
        actions = list(self._props.actions)
        notify: dict[str, Any] = (
            {"alarm_actions": actions, "ok_actions": actions} if actions else {}
        )
        periods = max(1, minutes * MINUTE // period)
        alarm = CloudwatchMetricAlarm(
            self,
            construct_id,
            alarm_name=f"{self._name}-{suffix}",
            alarm_description=f"{self._name}: {description}; rolls its deployment back",
            metric_query=queries,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # No data is the quiet case (no traffic, no tasks scheduled, an idle queue): OK.
            treat_missing_data="notBreaching",
            **notify,
        )
        self.alarms.append(alarm)
        return alarm

    def watch_target_groups(self, metrics: LoadBalancerMetrics) -> None:
        """5xx rate, unhealthy targets and p99 latency over all of the service's target groups
        (a traffic-shifting service has two; during a deployment both carry traffic)."""
        t = self._props.thresholds

        def per_group(
            prefix: str, metric_name: str, stat: str
        ) -> list[CloudwatchMetricAlarmMetricQuery]:
            return [
                _metric(
                    f"{prefix}{i}",
                    ALB,
                    metric_name,
                    stat,
                    MINUTE,
                    LoadBalancer=metrics.load_balancer,
                    TargetGroup=group,
                )
                for i, group in enumerate(metrics.target_groups)
            ]

        self._target_5xx_rate(
            per_group("errors", "HTTPCode_Target_5XX_Count", "Sum"),
            per_group("requests", "RequestCount", "Sum"),
        )
        unhealthy = per_group("unhealthy", "UnHealthyHostCount", "Maximum")
        self._alarm(
            "UnhealthyTargets",
            "unhealthy-targets",
            "targets failing the ALB health check for 3 minutes",
            [*unhealthy, _expression("unhealthy targets", _sum([q.id for q in unhealthy]))],
            threshold=0,
            minutes=3,
        )
        latency = per_group("latency", "TargetResponseTime", "p99")
        self._alarm(
            "P99Latency",
            "p99-latency",
            f"p99 response time over {t.max_p99_latency_seconds} s",
            [*latency, _expression("p99 seconds", f"MAX([{', '.join(q.id for q in latency)}])")],
            threshold=t.max_p99_latency_seconds,
            minutes=5,
        )

    def _target_5xx_rate(
        self,
        errors: list[CloudwatchMetricAlarmMetricQuery],
        requests: list[CloudwatchMetricAlarmMetricQuery],
    ) -> None:
        """The worst target group's 5xx percent: during a canary the new revision's group
        carries `canary.percent` of requests, so a rate over both groups would hide its
        errors ten to one; each group counts only with `min_requests_per_minute`."""
        t = self._props.thresholds
        if problem := between_problem(t.min_requests_per_minute, 1, MAX_MIN_REQUESTS_PER_MINUTE):
            raise ValueError(f"{self._name}: min_requests_per_minute {problem}")
        rates = [
            _expression(
                f"5xx percent, target group {i}",
                guarded_rate(e.id, r.id, t.min_requests_per_minute),
                query_id=f"rate{i}",
                returned=False,
            )
            for i, (e, r) in enumerate(zip(errors, requests, strict=True))
        ]
        self._alarm(
            "Target5xxRate",
            "target-5xx-rate",
            f"over {t.max_5xx_percent} % of one target group's requests (of at least "
            f"{t.min_requests_per_minute} a minute) answered 5xx by the tasks",
            [
                *errors,
                *requests,
                *rates,
                _expression("worst 5xx percent", worst_of([q.id for q in rates])),
            ],
            threshold=t.max_5xx_percent,
            minutes=3,
        )

    def watch_queue(self, queue: WorkQueue) -> None:
        """The oldest message of the service's work queue: a worker that stopped consuming."""
        t = self._props.thresholds
        self._alarm(
            "QueueOldestMessageAge",
            "queue-oldest-message-age",
            f"a job waited over {t.max_queue_age_seconds} s",
            [
                _metric(
                    "age",
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "Maximum",
                    SQS_PERIOD,
                    QueueName=queue.name,
                ),
                _expression("oldest message (s)", "age"),
            ],
            threshold=t.max_queue_age_seconds,
            minutes=10,
            period=SQS_PERIOD,
        )
