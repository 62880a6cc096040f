"""Deployment alarms per kind of service, and the rollback that watches them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from settings.services import AlarmSpec
from settings.validation import validate
from tests.synth_helpers import SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
ENV_SERVICES = [(e.name, s.name) for e in ENVIRONMENTS for s in e.services]
TOPIC = "arn:aws:sns:us-west-2:111111111111:dev-alarms"


def _service(stack, env, service):
    (found,) = [
        v for v in stack.resources("aws_ecs_service").values() if v["name"] == f"{env}-{service}"
    ]
    return found


def _alarms(stack, env, service):
    """{alarm name suffix: (logical id, alarm)} of one service."""
    prefix = f"{env}-{service}-"
    return {
        v["alarm_name"].removeprefix(prefix): (k, v)
        for k, v in stack.resources("aws_cloudwatch_metric_alarm").items()
        if v["alarm_name"].startswith(prefix)
    }


def _queries(alarm):
    return {q["id"]: q for q in alarm["metric_query"]}


def _dimensions(alarm, metric_name):
    return [
        q["metric"]["dimensions"]
        for q in alarm["metric_query"]
        if q.get("metric", {}).get("metric_name") == metric_name
    ]


def _result(alarm):
    (result,) = [q for q in alarm["metric_query"] if q["return_data"]]
    return result["expression"]


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_every_service_rolls_back_on_the_alarms_of_its_kind(synth, env, service):
    spec = ENVS[env].service(service)
    stack = synth.stack(f"services-{env}")
    alarms = _alarms(stack, env, service)
    expected = {"running-below-desired"}
    if spec.load_balancer is not None:
        expected |= {"target-5xx-rate", "unhealthy-targets", "p99-latency"}
    if spec.work_queue:
        expected.add("queue-oldest-message-age")
    assert set(alarms) == expected
    rollback = _service(stack, env, service)["alarms"]
    assert (rollback["enable"], rollback["rollback"]) == (True, True)
    assert sorted(rollback["alarm_names"]) == sorted(
        stack.ref("aws_cloudwatch_metric_alarm", k, "alarm_name") for k, _ in alarms.values()
    )
    for _, alarm in alarms.values():
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
        assert alarm["treat_missing_data"] == "notBreaching"
        assert alarm["datapoints_to_alarm"] == alarm["evaluation_periods"]
        assert "alarm_actions" not in alarm, "no alarm topic in the shipped table"


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_missing_tasks_compare_container_insights_counts_of_the_service(synth, env, service):
    stack = synth.stack(f"services-{env}")
    _, alarm = _alarms(stack, env, service)["running-below-desired"]
    _, cluster = synth.stack(f"cluster-{env}").one("aws_ecs_cluster")
    queries = _queries(alarm)
    for query_id, metric_name in (("running", "RunningTaskCount"), ("desired", "DesiredTaskCount")):
        metric = queries[query_id]["metric"]
        assert (metric["namespace"], metric["metric_name"]) == (
            "ECS/ContainerInsights",
            metric_name,
        )
        assert metric["dimensions"] == {
            "ClusterName": cluster["name"],
            "ServiceName": _service(stack, env, service)["name"],
        }
    assert _result(alarm) == "desired - running"
    assert (alarm["threshold"], alarm["evaluation_periods"]) == (
        0,
        ENVS[env].service(service).alarms.missing_tasks_minutes,
    )


@pytest.mark.parametrize("env", ENVS)
def test_alb_alarms_cover_every_target_group_of_web(synth, env):
    stack = synth.stack(f"services-{env}")
    lb_id, _ = stack.one("aws_lb")
    groups = sorted(
        stack.ref("aws_lb_target_group", k, "arn_suffix")
        for k, v in stack.resources("aws_lb_target_group").items()
        if v["name"] in (f"{env}-web", f"{env}-web-alt")
    )
    assert len(groups) == (2 if ENVS[env].service("web").deployment.shifts_traffic else 1)
    thresholds = ENVS[env].service("web").alarms
    alarms = {k: a for k, (_, a) in _alarms(stack, env, "web").items()}
    for name, metric_name, stat in (
        ("target-5xx-rate", "HTTPCode_Target_5XX_Count", "Sum"),
        ("target-5xx-rate", "RequestCount", "Sum"),
        ("unhealthy-targets", "UnHealthyHostCount", "Maximum"),
        ("p99-latency", "TargetResponseTime", "p99"),
    ):
        dims = _dimensions(alarms[name], metric_name)
        assert sorted(d["TargetGroup"] for d in dims) == groups, (name, metric_name)
        assert {d["LoadBalancer"] for d in dims} == {stack.ref("aws_lb", lb_id, "arn_suffix")}
        assert {
            q["metric"]["stat"]
            for q in alarms[name]["metric_query"]
            if q.get("metric", {}).get("metric_name") == metric_name
        } == {stat}
    n = len(groups)
    # Each group's own guarded rate, the worst of them alarms (semantics: tests/stacks/
    # test_deployment_safety.py evaluates the expression).
    rates = _queries(alarms["target-5xx-rate"])
    for i in range(n):
        assert rates[f"rate{i}"]["expression"] == (
            f"IF(FILL(requests{i}, 0) >= {thresholds.min_requests_per_minute}, "
            f"100 * FILL(errors{i}, 0) / FILL(requests{i}, 0), 0)"
        )
    assert _result(alarms["target-5xx-rate"]) == (
        "rate0" if n == 1 else f"MAX([{', '.join(f'rate{i}' for i in range(n))}])"
    )
    assert alarms["target-5xx-rate"]["threshold"] == thresholds.max_5xx_percent
    assert alarms["p99-latency"]["threshold"] == thresholds.max_p99_latency_seconds
    assert _result(alarms["p99-latency"]) == (
        f"MAX([{', '.join(f'latency{i}' for i in range(n))}])"
    )
    assert alarms["unhealthy-targets"]["threshold"] == 0


@pytest.mark.parametrize("env", ENVS)
def test_queue_worker_alarms_on_its_own_queues_oldest_message(synth, env):
    stack = synth.stack(f"services-{env}")
    (queue_id,) = [
        k for k, v in stack.resources("aws_sqs_queue").items() if v["name"] == f"{env}-worker-jobs"
    ]
    _, alarm = _alarms(stack, env, "worker")["queue-oldest-message-age"]
    assert _dimensions(alarm, "ApproximateAgeOfOldestMessage") == [
        {"QueueName": stack.ref("aws_sqs_queue", queue_id, "name")}
    ]
    assert alarm["threshold"] == ENVS[env].service("worker").alarms.max_queue_age_seconds
    assert _queries(alarm)["age"]["metric"]["period"] == 300, "SQS publishes every 5 minutes"


def test_alarms_notify_the_env_topic_with_the_services_thresholds(tmp_path):
    """dev with an alarm topic and stricter web thresholds, synthesized by main.build_app."""
    from main import build_app

    dev = ENVS["dev"]
    web, worker = dev.services
    strict = AlarmSpec(
        missing_tasks_minutes=3,
        max_5xx_percent=1.5,
        max_p99_latency_seconds=0.8,
        max_queue_age_seconds=120,
    )
    env = validate(
        replace(
            dev,
            pipeline=replace(dev.pipeline, alarm_topic_arn=TOPIC),
            services=(web.with_(alarms=strict), worker),
        )
    )
    build_app([env], str(tmp_path)).synth()
    stack = SynthOutput(tmp_path).stack("services-dev")
    alarms = {k: a for k, (_, a) in _alarms(stack, "dev", "web").items()}
    assert (alarms["target-5xx-rate"]["threshold"], alarms["p99-latency"]["threshold"]) == (
        1.5,
        0.8,
    )
    assert alarms["running-below-desired"]["evaluation_periods"] == 3
    every = list(stack.resources("aws_cloudwatch_metric_alarm").values())
    assert len(every) == 4 + 2
    for alarm in every:
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [TOPIC]
