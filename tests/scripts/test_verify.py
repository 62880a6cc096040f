"""`make verify` passes on a healthy env and names each failure otherwise (moto + a loopback
server standing in for the ALB)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts import verify
from scripts.aws_session import deploy_session
from settings.schema import HttpsSettings
from tests.scripts.conftest import as_role


class App(ThreadingHTTPServer):
    """Answers like the web sample behind the ALB: `/web/health`, `/web/` (through its agent)."""

    agent_up = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: App

    def do_GET(self) -> None:
        status = {"/web/health": 200, "/web/": 200 if self.server.agent_up else 503}.get(
            self.path, 404
        )
        body = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app() -> Iterator[App]:
    server = App()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _deployed(env, aws, monkeypatch, running: int) -> None:
    """The cluster and services as services-dev leaves them, `running` tasks each, and one
    deployment alarm per service, OK."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
    account = as_role(env, aws)
    ecs, cloudwatch = account.client("ecs"), account.client("cloudwatch")
    ecs.create_cluster(clusterName="dev-platform-cluster")
    for spec in env.services:
        name = f"dev-{spec.name}"
        ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": spec.name, "image": "x", "memory": 256}]
        )
        ecs.create_service(
            cluster="dev-platform-cluster", serviceName=name, taskDefinition=name, desiredCount=1
        )
        cloudwatch.put_metric_alarm(
            AlarmName=f"{name}-running-below-desired",
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            MetricName="RunningTaskCount",
            Namespace="ECS/ContainerInsights",
            Period=60,
            Statistic="Minimum",
        )


def _verify(env, aws, app) -> int:
    url = f"http://127.0.0.1:{app.server_address[1]}"
    return verify.main([env.name, "--url", url], deploy_session(env, aws), (env,))


def test_a_healthy_env_passes(aws, env, app, monkeypatch, capsys):
    _deployed(env, aws, monkeypatch, running=1)
    assert _verify(env, aws, app) == 0, capsys.readouterr().err


def test_each_failure_is_named_and_the_exit_is_non_zero(aws, env, app, monkeypatch, capsys):
    _deployed(env, aws, monkeypatch, running=0)
    as_role(env, aws).client("cloudwatch").set_alarm_state(
        AlarmName="dev-web-running-below-desired", StateValue="ALARM", StateReason="tasks gone"
    )
    app.agent_up = False
    assert _verify(env, aws, app) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if " FAIL " in line]
    assert [line.split(" FAIL ")[1].split(":")[0] for line in failed] == [
        "service dev-web",
        "service dev-worker",
        "alarm dev-web-running-below-desired",
        "web config agent through the app",
    ]
    assert "0 of 1 tasks running" in failed[0] and "-> 503" in failed[-1]


def test_a_missing_service_and_a_silent_front_fail(aws, env, monkeypatch, capsys):
    _deployed(env, aws, monkeypatch, running=1)
    as_role(env, aws).client("ecs").delete_service(
        cluster="dev-platform-cluster", service="dev-worker", force=True
    )
    assert (
        verify.main([env.name, "--url", "http://127.0.0.1:9"], deploy_session(env, aws), (env,))
        == 1
    )
    err = capsys.readouterr().err
    assert "FAIL service dev-worker: status" in err or "FAIL service dev-worker:" in err
    assert "web health: GET http://127.0.0.1:9/web/health -> no answer" in err


def test_the_front_is_the_alb_or_the_https_domain(aws, env):
    account = as_role(env, aws)
    vpc = account.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        account.client("ec2").create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{env.region}{z}"
        )["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    dns = account.client("elbv2").create_load_balancer(Name="dev-platform-alb", Subnets=subnets)[
        "LoadBalancers"
    ][0]["DNSName"]
    assert verify.front_url(account.client("elbv2"), env) == f"http://{dns}"
    https = replace(
        env,
        services_settings=replace(
            env.services_settings,
            https=HttpsSettings(domain="app.test.example", hosted_zone_id="Z123"),
        ),
    )
    assert verify.front_url(account.client("elbv2"), https) == "https://app.test.example"


def test_an_env_never_deployed_is_a_list_of_failures_not_a_crash(aws, env, capsys):
    assert verify.main([env.name], deploy_session(env, aws), (env,)) == 1
    failed = [
        line.split(" FAIL ")[1] for line in capsys.readouterr().err.splitlines() if " FAIL " in line
    ]
    assert [line.split(":")[0] for line in failed] == [
        "cluster dev-platform-cluster",
        "load balancer dev-platform-alb",
    ]
    assert "ClusterNotFoundException" in failed[0] and "LoadBalancerNotFound" in failed[1]
