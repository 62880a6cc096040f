"""One CloudWatch dashboard per environment: the cluster, each service, the config pipeline.

Built like aws-cdk's `Dashboard`: create it, then `add_cluster`, `add_service` and
`add_config_events` append rows of widgets; the body is rendered after each call. Metric
widgets follow the dashboard body structure (CloudWatch API reference, "Dashboard Body
Structure and Syntax"): `metrics` rows of `[namespace, name, dim, value, ..., {options}]`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from engine.aws.cloudwatch_dashboard import CloudwatchDashboard

if TYPE_CHECKING:
    from modules.load_balancer import LoadBalancerMetrics

WIDTH = 24
"""A dashboard is 24 grid units wide."""
HEIGHT = 6
PERIOD = 60
SQS_PERIOD = 300
"""SQS publishes queue metrics every 5 minutes."""
CONTAINER_INSIGHTS = "ECS/ContainerInsights"


@dataclass(frozen=True)
class DashboardProps:
    """Dashboard name (`<env>-platform-overview`) and the region of every metric."""

    name: str
    region: str


Metric = list[Any]


class EnvironmentDashboard(Construct):
    """`aws_cloudwatch_dashboard` whose rows the stack adds; exposes `.name` and `.widgets`."""

    def __init__(self, scope: Construct, id_: str, props: DashboardProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        self.widgets: list[dict[str, Any]] = []
        self._y = 0
        self.dashboard = CloudwatchDashboard(
            self, "Dashboard", dashboard_name=props.name, dashboard_body=self._body()
        )
        self.name = props.name

    def _body(self) -> str:
        return json.dumps({"widgets": self.widgets}, sort_keys=True)

    def _row(self, title: str, widgets: list[dict[str, Any]]) -> None:
        """A text header, then `widgets` side by side on one row."""
        self.widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": self._y,
                "width": WIDTH,
                "height": 1,
                "properties": {"markdown": f"## {title}"},
            }
        )
        self._y += 1
        width = WIDTH // len(widgets)
        for i, widget in enumerate(widgets):
            widget.update(x=i * width, y=self._y, width=width, height=HEIGHT)
            self.widgets.append(widget)
        self._y += HEIGHT
        self.dashboard.dashboard_body = self._body()

    def _graph(
        self, title: str, metrics: list[Metric], stat: str = "Average", period: int = PERIOD
    ) -> dict[str, Any]:
        return {
            "type": "metric",
            "properties": {
                "title": title,
                "view": "timeSeries",
                "region": self._props.region,
                "stat": stat,
                "period": period,
                "metrics": metrics,
            },
        }

    def add_cluster(self, cluster_name: str, capacity_providers: Sequence[str]) -> None:
        """Capacity provider reservation (what managed scaling tracks), CPU and memory."""
        cluster = ["ClusterName", cluster_name]
        self._row(
            f"Cluster {cluster_name}",
            [
                self._graph(
                    "Capacity provider reservation (%)",
                    [
                        [
                            "AWS/ECS/ManagedScaling",
                            "CapacityProviderReservation",
                            "CapacityProviderName",
                            provider,
                            *cluster,
                        ]
                        for provider in capacity_providers
                    ],
                ),
                self._graph(
                    "CPU (%)",
                    [
                        ["AWS/ECS", "CPUUtilization", *cluster],
                        ["AWS/ECS", "CPUReservation", *cluster],
                    ],
                ),
                self._graph(
                    "Memory (%)",
                    [
                        ["AWS/ECS", "MemoryUtilization", *cluster],
                        ["AWS/ECS", "MemoryReservation", *cluster],
                    ],
                ),
            ],
        )

    def add_service(
        self,
        service_name: str,
        cluster_name: str,
        load_balancer: LoadBalancerMetrics | None = None,
        queue_name: str | None = None,
        alarm_arns: Sequence[str] = (),
    ) -> None:
        """Running vs desired tasks, CPU and memory; 5xx and p99 latency behind an ALB (every
        target group); queue depth and oldest job for a worker; its alarms' states."""
        dims = ["ClusterName", cluster_name, "ServiceName", service_name]
        widgets = [
            self._graph(
                "Tasks: running / desired",
                [
                    [CONTAINER_INSIGHTS, "RunningTaskCount", *dims],
                    [CONTAINER_INSIGHTS, "DesiredTaskCount", *dims],
                ],
            ),
            self._graph(
                "CPU / memory (%)",
                [["AWS/ECS", "CPUUtilization", *dims], ["AWS/ECS", "MemoryUtilization", *dims]],
            ),
        ]
        if load_balancer is not None:
            widgets += self._load_balancer_widgets(load_balancer)
        if queue_name is not None:
            widgets.append(self._queue_widget(queue_name))
        if alarm_arns:
            widgets.append(
                {
                    "type": "alarm",
                    "properties": {"title": "Deployment alarms", "alarms": list(alarm_arns)},
                }
            )
        self._row(f"Service {service_name}", widgets)

    def _load_balancer_widgets(self, load_balancer: LoadBalancerMetrics) -> list[dict[str, Any]]:
        """Requests and target 5xx, and p99 latency, over every target group."""
        groups = [
            ["LoadBalancer", load_balancer.load_balancer, "TargetGroup", group]
            for group in load_balancer.target_groups
        ]
        return [
            self._graph(
                "Requests / target 5xx",
                [
                    metric
                    for group in groups
                    for metric in (
                        ["AWS/ApplicationELB", "RequestCount", *group],
                        ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *group],
                    )
                ],
                stat="Sum",
            ),
            self._graph(
                "Target response time p99 (s)",
                [["AWS/ApplicationELB", "TargetResponseTime", *group] for group in groups],
                stat="p99",
            ),
        ]

    def _queue_widget(self, queue_name: str) -> dict[str, Any]:
        """A worker's queue depth and, on the right axis, its oldest job's age."""
        queue = ["QueueName", queue_name]
        return self._graph(
            "Work queue",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", *queue],
                ["AWS/SQS", "ApproximateAgeOfOldestMessage", *queue, {"yAxis": "right"}],
            ],
            stat="Maximum",
            period=SQS_PERIOD,
        )

    def add_config_events(
        self, dlqs: Sequence[str], topics: Sequence[str], rules: Sequence[str]
    ) -> None:
        """The config pipeline: config-event DLQ depth (should stay 0), events matched and
        failed per EventBridge rule, messages published per topic."""
        self._row(
            "Config pipeline",
            [
                self._graph(
                    "Config-event DLQs: messages",
                    [
                        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq]
                        for dlq in dlqs
                    ],
                    stat="Maximum",
                    period=SQS_PERIOD,
                ),
                self._graph(
                    "Events: invocations / failed",
                    [
                        metric
                        for rule in rules
                        for metric in (
                            ["AWS/Events", "Invocations", "RuleName", rule],
                            ["AWS/Events", "FailedInvocations", "RuleName", rule],
                        )
                    ],
                    stat="Sum",
                ),
                self._graph(
                    "Topics: published",
                    [
                        ["AWS/SNS", "NumberOfMessagesPublished", "TopicName", topic]
                        for topic in topics
                    ],
                    stat="Sum",
                ),
            ],
        )
