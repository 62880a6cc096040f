"""Container definitions builder: pure Python, no synth needed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from modules.service_config import ServiceConfig, secret_variable
from modules.task_definition import (
    AGENT_CONTAINER,
    AGENT_URL,
    ConfigAgentSidecar,
    ContainerProps,
    container_definitions,
    container_definitions_json,
    task_cpu,
    task_memory,
)
from settings.services import CONFIG_AGENT_PORT, WEB, WORKER
from tests.modules.refs import SERVICE_CONFIG as CONFIG

APP = ContainerProps(
    image="nginx:1",
    cpu=256,
    memory=512,
    port=8080,
    environment={"LOG_LEVEL": "info"},
    health_check=WEB.health_check,
)


def _definitions(
    app: ContainerProps = APP, config: ServiceConfig = CONFIG, work_queue_url: str | None = None
) -> list[dict]:
    return container_definitions(
        "web",
        app,
        ConfigAgentSidecar("repo/config-agent:1", config),
        "/ecs/dev-web",
        "us-west-2",
        work_queue_url,
    )


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["environment"]}


def test_app_depends_on_a_healthy_essential_sidecar():
    app, agent = _definitions()
    assert (app["name"], agent["name"]) == ("web", AGENT_CONTAINER)
    assert app["essential"] and agent["essential"]
    assert app["dependsOn"] == [{"containerName": AGENT_CONTAINER, "condition": "HEALTHY"}]
    assert "dependsOn" not in agent
    assert f"127.0.0.1:{CONFIG_AGENT_PORT}/health" in " ".join(agent["healthCheck"]["command"])
    assert agent["readonlyRootFilesystem"] is True
    assert "portMappings" not in agent, "the agent is reachable only on the task's loopback"


def test_both_containers_log_to_the_same_group_with_their_own_prefix():
    app, agent = _definitions()
    for container, prefix in ((app, "web"), (agent, AGENT_CONTAINER)):
        assert container["logConfiguration"] == {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/ecs/dev-web",
                "awslogs-region": "us-west-2",
                "awslogs-stream-prefix": prefix,
            },
        }


def test_agent_gets_the_contract_variables_and_the_token_as_a_secret():
    _, agent = _definitions()
    assert _env(agent) == {
        "CONFIG_AGENT_TOPIC_ARN": "arn:topic",
        "CONFIG_AGENT_QUEUE_PREFIX": "dev-web-cfg-",
        "CONFIG_AGENT_DLQ_ARN": "arn:dlq",
        "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3",
        "CONFIG_AGENT_QUEUE_KMS_KEY": "arn:key",
        "CONFIG_AGENT_SAFETY_REFRESH_SECONDS": "900",
        "CONFIG_AGENT_SECRET_IDS": "arn:api,arn:db",
        "CONFIG_AGENT_APPCONFIG_APPLICATION": "app1",
        "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": "env1",
        "CONFIG_AGENT_APPCONFIG_PROFILE": "prof1",
        "CONFIG_AGENT_PORT": str(CONFIG_AGENT_PORT),
        "AWS_REGION": "us-west-2",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    assert agent["secrets"] == [{"name": "CONFIG_AGENT_TOKEN", "valueFrom": "arn:token"}]


def test_app_gets_identifiers_only_and_the_token():
    app, _ = _definitions(work_queue_url="https://sqs/jobs")
    env = _env(app)
    assert env["CONFIG_AGENT_URL"] == AGENT_URL
    assert env["LOG_LEVEL"] == "info"
    assert env["SECRET_ARN_DB_PASSWORD"] == "arn:db"
    assert env["SECRET_ARN_API_KEY"] == "arn:api"
    assert env["APPCONFIG_PROFILE_ID"] == "prof1"
    assert env["WORK_QUEUE_URL"] == "https://sqs/jobs"
    assert app["secrets"] == [{"name": "CONFIG_AGENT_TOKEN", "valueFrom": "arn:token"}]
    assert app["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert app["healthCheck"]["command"] == list(WEB.health_check.command)
    names = [e["name"] for e in app["environment"]]
    assert names == sorted(names), "stable order: no spurious task definition revisions"


def test_no_profile_no_port_no_health_check_no_secrets_but_always_the_token():
    app, agent = _definitions(
        replace(APP, port=None, health_check=None), replace(CONFIG, profile=None, secret_arns={})
    )
    assert not any(k.startswith("CONFIG_AGENT_APPCONFIG") for k in _env(agent))
    assert not any(k.startswith(("APPCONFIG_", "SECRET_ARN_")) for k in _env(app))
    assert _env(agent)["CONFIG_AGENT_SECRET_IDS"] == ""
    assert "portMappings" not in app and "healthCheck" not in app
    token = [{"name": "CONFIG_AGENT_TOKEN", "valueFrom": "arn:token"}]
    assert app["secrets"] == token and agent["secrets"] == token


def test_a_named_port_is_an_http_port_mapping_and_needs_a_port():
    app, _ = _definitions(replace(APP, port_name="web"))
    assert app["portMappings"] == [
        {
            "containerPort": 8080,
            "hostPort": 8080,
            "protocol": "tcp",
            "name": "web",
            "appProtocol": "http",
        }
    ]
    with pytest.raises(ValueError, match="port name 'web' needs a port"):
        replace(APP, port=None, port_name="web")


def test_json_round_trips_and_task_size_includes_the_sidecar():
    as_json = container_definitions_json(
        "web", APP, ConfigAgentSidecar("agent:1", CONFIG), "/ecs/dev-web", "us-west-2"
    )
    assert json.loads(as_json) == container_definitions(
        "web", APP, ConfigAgentSidecar("agent:1", CONFIG), "/ecs/dev-web", "us-west-2"
    )
    _app, agent = _definitions()
    assert task_cpu(WORKER.cpu) == WORKER.cpu + agent["cpu"]
    assert task_memory(WORKER.memory) == WORKER.memory + agent["memory"]


@pytest.mark.parametrize(
    ("short", "var"),
    [("db-password", "SECRET_ARN_DB_PASSWORD"), ("api_key2", "SECRET_ARN_API_KEY2")],
)
def test_secret_variable_names(short, var):
    assert secret_variable(short) == var


def test_config_files_share_a_task_volume_written_by_the_agent_read_only_for_the_app():
    app, agent = _definitions(replace(APP, files_path="/etc/app/config"))
    assert agent["mountPoints"] == [
        {"sourceVolume": "config-files", "containerPath": "/run/config-agent", "readOnly": False}
    ]
    assert app["mountPoints"] == [
        {"sourceVolume": "config-files", "containerPath": "/etc/app/config", "readOnly": True}
    ]
    assert _env(agent)["CONFIG_AGENT_OUTPUT_DIR"] == "/run/config-agent"
    plain_app, plain_agent = _definitions()
    assert "mountPoints" not in plain_app and "mountPoints" not in plain_agent
    assert "CONFIG_AGENT_OUTPUT_DIR" not in _env(plain_agent)


def test_task_definition_declares_the_volume_only_when_files_are_asked_for(tmp_path):
    from main import build_app
    from settings.environments import select
    from tests.synth_helpers import SynthOutput
    from tests.tables import SAMPLE

    dev = select("dev", SAMPLE)[0]
    web = dev.service("web").with_(config_files_path="/etc/app/config")
    env = replace(dev, services=(web, dev.service("worker")))
    build_app([env], str(tmp_path)).synth()
    stack = SynthOutput(tmp_path).stack("services-dev")
    by_family = {t["family"]: t for t in stack.resources("aws_ecs_task_definition").values()}
    assert by_family["dev-web"]["volume"] == [{"name": "config-files"}]
    assert "volume" not in by_family["dev-worker"]
    app, agent = json.loads(by_family["dev-web"]["container_definitions"])
    assert app["mountPoints"][0]["readOnly"] is True
    assert agent["mountPoints"][0]["containerPath"] == "/run/config-agent"


def test_log_routing_adds_an_essential_router_and_only_the_app_uses_firelens():
    from modules.task_definition import (
        LOG_ROUTER_CONTAINER,
        LOG_ROUTER_CPU,
        LOG_ROUTER_MEMORY,
        FirehoseLogRouting,
        log_routing_statements,
    )

    grant = {"Effect": "Allow", "Action": ["firehose:PutRecordBatch"], "Resource": ["arn:s"]}
    routed = replace(APP, log_routing=FirehoseLogRouting("dev-platform-logs", grant))
    app, agent, router = _definitions(routed)
    assert app["logConfiguration"]["logDriver"] == "awsfirelens"
    assert app["logConfiguration"]["options"]["delivery_stream"] == "dev-platform-logs"
    assert agent["logConfiguration"]["logDriver"] == "awslogs"
    assert router["name"] == LOG_ROUTER_CONTAINER and router["essential"] is True
    assert router["logConfiguration"]["options"]["awslogs-stream-prefix"] == LOG_ROUTER_CONTAINER
    assert log_routing_statements(routed) == [grant] and log_routing_statements(APP) == []
    assert task_cpu(256, True) == task_cpu(256) + LOG_ROUTER_CPU
    assert task_memory(512, True) == task_memory(512) + LOG_ROUTER_MEMORY
    assert len(_definitions()) == 2, "without routing the task keeps its two containers"
