"""A CloudWatch alarm that fires as soon as a dead-letter queue holds any message.

A message in a DLQ is a failure someone has to look at: nothing reads a DLQ on its own, and
SQS deletes what it holds after the retention period without a trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from engine.aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

VISIBLE_METRIC = "ApproximateNumberOfMessagesVisible"
ALARM_PERIOD_SECONDS = 300
"""SQS publishes queue metrics every 5 minutes; a shorter period only sees gaps."""


@dataclass(frozen=True)
class DeadLetterAlarmProps:
    """Alarm name (`<env>-<service>-<queue purpose>-not-empty`), the queue, who to notify."""

    alarm_name: str
    queue_name: str
    """The queue's name (a reference is fine): the `QueueName` dimension of AWS/SQS metrics."""
    description: str
    actions: Sequence[str] = field(default_factory=tuple)
    """ARNs notified on ALARM and on OK (usually one SNS topic); none: state changes only."""


class DeadLetterAlarm(Construct):
    """ALARM while the queue's visible message count is above zero; exposes `.alarm`."""

    def __init__(self, scope: Construct, id_: str, props: DeadLetterAlarmProps) -> None:
        super().__init__(scope, id_)
        if not 1 <= len(props.alarm_name) <= 255:
            raise ValueError(f"alarm name {props.alarm_name!r} must be 1-255 characters")
        actions: dict[str, Any] = {
            "alarm_actions": list(props.actions),
            "ok_actions": list(props.actions),
        }
        self.alarm = CloudwatchMetricAlarm(
            self,
            "Alarm",
            alarm_name=props.alarm_name,
            alarm_description=props.description,
            namespace="AWS/SQS",
            metric_name=VISIBLE_METRIC,
            dimensions={"QueueName": props.queue_name},
            statistic="Maximum",
            period=ALARM_PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            # SQS stops publishing metrics for a queue idle for six hours: an empty DLQ is
            # the normal, quiet case, so no data means OK.
            treat_missing_data="notBreaching",
            **(actions if props.actions else {}),
        )
