"""Fan-out mode's own queue against moto: a restart reuses what it finds, and the subscription
check finds the agent's subscription however many others the topic has."""

from __future__ import annotations

import threading
import uuid

from config_agent import contract
from config_agent.aws import Aws
from config_agent.fanout import OwnQueue, TaskIdentity
from config_agent.settings import Settings
from devtools.local_aws import LocalAws, Topic
from tests.config_agent.conftest import fanout_env


def _own_queue(aws: LocalAws, topic: Topic) -> OwnQueue:
    """An own queue for a fresh task id, calling AWS through the fault proxy (which counts)."""
    settings = Settings.from_env(fanout_env(topic, CONFIG_AGENT_SECRET_IDS="app/x"))
    return OwnQueue(settings, Aws(settings, threading.Event()), TaskIdentity(uuid.uuid4().hex))


def _attributes(aws: LocalAws, url: str) -> dict[str, str]:
    attrs: dict[str, str] = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    return attrs


def test_a_queue_left_by_an_earlier_run_with_other_settings_is_reused_and_updated(
    aws: LocalAws,
) -> None:
    topic = aws.topic()
    own = _own_queue(aws, topic)
    # Same name (same task), created by a container whose settings differed.
    old = aws.sqs.create_queue(QueueName=own.name, Attributes={"VisibilityTimeout": "99"})
    url = own.setup()
    assert url == old["QueueUrl"]
    attrs = _attributes(aws, url)
    assert attrs["VisibilityTimeout"] == str(own.settings.visibility_timeout)
    assert '"sns.amazonaws.com"' in attrs["Policy"] and topic.dlq_arn in attrs["RedrivePolicy"]
    assert aws.sqs.list_queue_tags(QueueUrl=url)["Tags"][contract.QUEUE_TAG_AGENT] == "true"
    assert own.subscribed()


def test_setup_again_reuses_queue_and_subscription(aws: LocalAws) -> None:
    assert aws.proxy is not None
    own = _own_queue(aws, aws.topic())
    creates, subscribes = aws.proxy.count("CreateQueue"), aws.proxy.count("Subscribe")
    first = own.setup()
    assert own.setup() == first
    assert aws.proxy.count("CreateQueue") - creates == 1
    assert aws.proxy.count("Subscribe") - subscribes == 1
    subs = aws.sns.list_subscriptions_by_topic(TopicArn=own.settings.topic_arn)["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == [own.arn]


def test_the_subscription_is_found_beyond_the_first_page_of_the_topic(aws: LocalAws) -> None:
    assert aws.proxy is not None
    topic = aws.topic()
    # Other tasks' queues subscribed first: ListSubscriptionsByTopic pages 100 at a time.
    for i in range(100):
        aws.sns.subscribe(
            TopicArn=topic.arn,
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:us-west-2:123456789012:other-{i}",
        )
    own = _own_queue(aws, topic)
    own.setup()
    lists = aws.proxy.count("ListSubscriptionsByTopic")
    assert own.subscribed()
    assert aws.proxy.count("ListSubscriptionsByTopic") - lists == 2
    # Gone (the reaper, or by hand): every page is read, and the answer is no.
    aws.sns.unsubscribe(SubscriptionArn=own.subscription_arn)
    assert not own.subscribed()
