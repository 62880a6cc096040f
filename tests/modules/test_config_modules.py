"""Validation in the config pipeline's constructs: bad settings fail at synth, with the field."""

from __future__ import annotations

import pytest

from modules.appconfig import strategy_settings
from modules.config_events import secret_arn_prefix, trail_arn
from settings.schema import DeploymentStrategy


def test_strategies_map_env_settings_to_appconfig_arguments():
    assert strategy_settings(DeploymentStrategy.ALL_AT_ONCE, 0, 0) == {
        "deployment_duration_in_minutes": 0,
        "growth_factor": 100,
        "growth_type": "LINEAR",
        "final_bake_time_in_minutes": 0,
    }
    linear = strategy_settings(DeploymentStrategy.LINEAR, 10, 5)
    assert (linear["deployment_duration_in_minutes"], linear["final_bake_time_in_minutes"]) == (
        10,
        5,
    )
    assert 0 < linear["growth_factor"] < 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((DeploymentStrategy.LINEAR, 0, 0), "deployment_minutes >= 1"),
        ((DeploymentStrategy.ALL_AT_ONCE, 5, 0), "no deployment duration"),
        ((DeploymentStrategy.LINEAR, 2000, 0), "between 0 and 1440"),
        ((DeploymentStrategy.LINEAR, 5, -1), "bake_minutes"),
    ],
)
def test_invalid_strategy_settings_are_rejected(args, message):
    with pytest.raises(ValueError, match=message):
        strategy_settings(*args)


def test_arns_are_built_from_names():
    assert trail_arn("us-east-1", "222222222222", "prod-platform-config-trail") == (
        "arn:aws:cloudtrail:us-east-1:222222222222:trail/prod-platform-config-trail"
    )
    assert secret_arn_prefix("us-west-2", "111111111111", "dev", "web") == (
        "arn:aws:secretsmanager:us-west-2:111111111111:secret:/dev/web/"
    )


@pytest.fixture(scope="module")
def scope():
    from engine.core import TerraformStack, Testing

    return TerraformStack(Testing.app(), "config-topic")


def _topic_props(**changes):
    from modules.config_topic import ConfigTopicProps

    base = dict(
        topic_name="dev-web-config-events",
        dlq_name="dev-web-config-events-dlq",
        queue_name_prefix="dev-web-cfg-",
        kms_key_arn="arn:key",
        max_receive_count=3,
    )
    return ConfigTopicProps(**{**base, **changes})


def test_agent_queue_prefix_leaves_room_for_a_task_id(scope):
    from modules.config_topic import ConfigTopic

    ConfigTopic(scope, "Fits", _topic_props(queue_name_prefix="p" * 48))  # 48 + 32 = 80
    with pytest.raises(ValueError, match="at most 48 characters"):
        ConfigTopic(scope, "TooLong", _topic_props(queue_name_prefix="p" * 49))
    with pytest.raises(ValueError, match="queue name prefix"):
        ConfigTopic(scope, "BadChars", _topic_props(queue_name_prefix="dev.web-"))
    with pytest.raises(ValueError, match="maxReceiveCount"):
        ConfigTopic(scope, "Receives", _topic_props(max_receive_count=0))


def test_topic_policy_needs_rules_and_is_set_once(scope):
    from modules.config_topic import ConfigTopic

    topic = ConfigTopic(scope, "Once", _topic_props())
    with pytest.raises(ValueError, match="at least one rule"):
        topic.allow_event_rules([])
    topic.allow_event_rules(["arn:aws:events:us-west-2:111111111111:rule/dev-web-x"])
    with pytest.raises(RuntimeError, match="once"):
        topic.allow_event_rules(["arn:aws:events:us-west-2:111111111111:rule/dev-web-x"])


def test_dead_letter_alarm_notifies_only_when_given_actions():
    import json

    from engine.core import TerraformStack, Testing
    from modules.queue_alarm import DeadLetterAlarm, DeadLetterAlarmProps

    stack = TerraformStack(Testing.app(), "dlq-alarm")
    DeadLetterAlarm(
        stack,
        "Quiet",
        DeadLetterAlarmProps(
            alarm_name="dev-web-quiet-not-empty", queue_name="q1", description="d"
        ),
    )
    DeadLetterAlarm(
        stack,
        "Loud",
        DeadLetterAlarmProps(
            alarm_name="dev-web-loud-not-empty",
            queue_name="q2",
            description="d",
            actions=("arn:aws:sns:us-west-2:111111111111:alarms",),
        ),
    )
    alarms = {
        a["alarm_name"]: a
        for a in json.loads(Testing.synth(stack))["resource"][
            "aws_cloudwatch_metric_alarm"
        ].values()
    }
    quiet, loud = alarms["dev-web-quiet-not-empty"], alarms["dev-web-loud-not-empty"]
    assert "alarm_actions" not in quiet and "ok_actions" not in quiet
    assert quiet["dimensions"] == {"QueueName": "q1"}
    assert (
        loud["alarm_actions"] == loud["ok_actions"] == ["arn:aws:sns:us-west-2:111111111111:alarms"]
    )
    with pytest.raises(ValueError, match="1-255"):
        DeadLetterAlarm(
            stack, "Nameless", DeadLetterAlarmProps(alarm_name="", queue_name="q", description="d")
        )
