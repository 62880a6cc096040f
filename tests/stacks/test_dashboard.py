"""One CloudWatch dashboard per env: cluster, every service, the config pipeline."""

from __future__ import annotations

import json

import pytest

from tests.synth_helpers import remote_output
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}


def _body(synth, env):
    _, dashboard = synth.stack(f"services-{env}").one("aws_cloudwatch_dashboard")
    assert dashboard["dashboard_name"] == f"{env}-platform-overview"
    return json.loads(dashboard["dashboard_body"])["widgets"]


def _graph(widgets, title, after=None):
    """The metric widget titled `title` (the first after the header `after`, if given)."""
    start = 0
    if after is not None:
        start = next(
            i
            for i, w in enumerate(widgets)
            if w["type"] == "text" and w["properties"]["markdown"] == f"## {after}"
        )
    for widget in widgets[start:]:
        if widget["properties"].get("title") == title:
            return widget
    raise AssertionError(f"no widget {title!r} after {after!r}")


def _metrics(widget, name):
    return [m for m in widget["properties"]["metrics"] if m[1] == name]


def _dims(metric):
    values = [v for v in metric[2:] if not isinstance(v, dict)]
    return dict(zip(values[::2], values[1::2], strict=False))


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_widgets_fit_the_grid_and_use_the_envs_region(synth, env):
    widgets = _body(synth, env)
    cells = set()
    for widget in widgets:
        assert widget["x"] + widget["width"] <= 24
        cell = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & cell, f"overlap at {widget}"
        cells |= cell
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == ENVS[env].region
            assert widget["properties"]["metrics"], widget["properties"]["title"]


@pytest.mark.parametrize("env", ENVS)
def test_cluster_row_shows_every_capacity_provider_cpu_and_memory(synth, env):
    widgets = _body(synth, env)
    services = synth.stack(f"services-{env}")
    cluster = synth.stack(f"cluster-{env}")
    _, ecs_cluster = cluster.one("aws_ecs_cluster")
    reservation = _metrics(
        _graph(widgets, "Capacity provider reservation (%)"), "CapacityProviderReservation"
    )
    assert sorted(
        remote_output(synth, services, _dims(m)["CapacityProviderName"]) for m in reservation
    ) == sorted(
        cluster.ref("aws_ecs_capacity_provider", k, "name")
        for k in cluster.resources("aws_ecs_capacity_provider")
    )
    assert {_dims(m)["ClusterName"] for m in reservation} == {ecs_cluster["name"]}
    for title, names in (
        ("CPU (%)", ("CPUUtilization", "CPUReservation")),
        ("Memory (%)", ("MemoryUtilization", "MemoryReservation")),
    ):
        graph = _graph(widgets, title)
        assert [m[1] for m in graph["properties"]["metrics"]] == list(names)
        assert all(
            _dims(m) == {"ClusterName": ecs_cluster["name"]} for m in graph["properties"]["metrics"]
        )


@pytest.mark.parametrize(
    ("env", "service"), [(e.name, s.name) for e in ENVIRONMENTS for s in e.services]
)
def test_service_row_shows_tasks_traffic_queue_and_alarms(synth, env, service):
    spec = ENVS[env].service(service)
    widgets = _body(synth, env)
    stack = synth.stack(f"services-{env}")
    header = f"Service {env}-{service}"
    tasks = _graph(widgets, "Tasks: running / desired", after=header)
    assert [m[1] for m in tasks["properties"]["metrics"]] == [
        "RunningTaskCount",
        "DesiredTaskCount",
    ]
    assert all(
        _dims(m)["ServiceName"] == f"{env}-{service}" for m in tasks["properties"]["metrics"]
    )
    row = [w for w in widgets if w["y"] == tasks["y"]]
    titles = {w["properties"].get("title") for w in row}
    alarms = {
        v["alarm_name"]: stack.ref("aws_cloudwatch_metric_alarm", k, "arn")
        for k, v in stack.resources("aws_cloudwatch_metric_alarm").items()
        if v["alarm_name"].startswith(f"{env}-{service}-")
    }
    (alarm_widget,) = [w for w in row if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(alarms.values())
    assert ("Requests / target 5xx" in titles) is (spec.load_balancer is not None)
    assert ("Work queue" in titles) is spec.work_queue
    if spec.load_balancer is not None:
        groups = sorted(
            stack.ref("aws_lb_target_group", k, "arn_suffix")
            for k, v in stack.resources("aws_lb_target_group").items()
            if v["name"] in (f"{env}-{service}", f"{env}-{service}-alt")
        )
        latency = _graph(widgets, "Target response time p99 (s)", after=header)
        assert sorted(_dims(m)["TargetGroup"] for m in latency["properties"]["metrics"]) == (groups)
        errors = _metrics(
            _graph(widgets, "Requests / target 5xx", after=header), "HTTPCode_Target_5XX_Count"
        )
        assert sorted(_dims(m)["TargetGroup"] for m in errors) == groups
    if spec.work_queue:
        (queue_id,) = [
            k
            for k, v in stack.resources("aws_sqs_queue").items()
            if v["name"] == f"{env}-{service}-jobs"
        ]
        queue = _graph(widgets, "Work queue", after=header)
        assert {_dims(m)["QueueName"] for m in queue["properties"]["metrics"]} == {
            stack.ref("aws_sqs_queue", queue_id, "name")
        }


@pytest.mark.parametrize("env", ENVS)
def test_config_pipeline_row_names_the_config_stacks_dlqs_rules_and_topics(synth, env):
    widgets = _body(synth, env)
    config = synth.stack(f"config-{env}")
    dlqs = sorted(
        v["name"]
        for v in config.resources("aws_sqs_queue").values()
        if v["name"].endswith("-config-events-dlq")
    )
    rules = sorted(
        v["name"]
        for v in config.resources("aws_cloudwatch_event_rule").values()
        if "-orphan-reaper-" not in v["name"]
    )
    topics = sorted(v["name"] for v in config.resources("aws_sns_topic").values())
    assert len(dlqs) == len(topics) == len(ENVS[env].services)
    dlq_widget = _graph(widgets, "Config-event DLQs: messages", after="Config pipeline")
    assert sorted(_dims(m)["QueueName"] for m in dlq_widget["properties"]["metrics"]) == dlqs
    events = _graph(widgets, "Events: invocations / failed", after="Config pipeline")
    for name in ("Invocations", "FailedInvocations"):
        assert sorted(_dims(m)["RuleName"] for m in _metrics(events, name)) == rules
    published = _graph(widgets, "Topics: published", after="Config pipeline")
    assert sorted(_dims(m)["TopicName"] for m in published["properties"]["metrics"]) == topics
