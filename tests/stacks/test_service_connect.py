"""Service Connect (optional per env) as the alternative to Cloud Map DNS records."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from settings.validation import validate
from tests.synth_helpers import SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}


def _service(stack, name):
    (found,) = [v for v in stack.resources("aws_ecs_service").values() if v["name"] == name]
    return found


def _app_container(stack, family):
    (task,) = [
        v for v in stack.resources("aws_ecs_task_definition").values() if v["family"] == family
    ]
    return json.loads(task["container_definitions"])[0]


@pytest.fixture(scope="module")
def connected(synth, tmp_path_factory) -> SynthOutput:
    """dev with `services_settings.service_connect`, synthesized by main.build_app."""
    from main import build_app

    dev = ENVS["dev"]
    env = validate(
        replace(dev, services_settings=replace(dev.services_settings, service_connect=True))
    )
    outdir = tmp_path_factory.mktemp("service-connect")
    build_app([env], str(outdir)).synth()
    return SynthOutput(outdir)


@pytest.mark.parametrize("env", ENVS)
def test_each_env_uses_the_discovery_its_settings_name(synth, env):
    connect = ENVS[env].services_settings.service_connect
    stack = synth.stack(f"services-{env}")
    assert bool(stack.resources("aws_service_discovery_http_namespace")) is connect
    assert bool(stack.resources("aws_service_discovery_private_dns_namespace")) is not connect
    for service in stack.resources("aws_ecs_service").values():
        assert ("service_connect_configuration" in service) is connect
        spec = ENVS[env].service(service["name"].removeprefix(f"{env}-"))
        assert ("service_registries" in service) is (not connect and spec.service_discovery)


def test_service_connect_replaces_the_dns_namespace_and_registries(connected):
    stack = connected.stack("services-dev")
    namespace_id, namespace = stack.one("aws_service_discovery_http_namespace")
    assert namespace["name"] == "dev.internal", "the same names callers used with DNS"
    assert not stack.resources("aws_service_discovery_private_dns_namespace")
    assert not stack.resources("aws_service_discovery_service")
    for service in stack.resources("aws_ecs_service").values():
        assert "service_registries" not in service
        config = service["service_connect_configuration"]
        assert config["enabled"] is True
        assert config["namespace"] == stack.ref(
            "aws_service_discovery_http_namespace", namespace_id, "arn"
        )


@pytest.mark.parametrize("service", ["web", "worker"])
def test_each_service_logs_its_proxy_to_its_own_log_group(connected, service):
    stack = connected.stack("services-dev")
    (group_id,) = [
        k
        for k, v in stack.resources("aws_cloudwatch_log_group").items()
        if v["name"] == f"/ecs/dev-{service}"
    ]
    logs = _service(stack, f"dev-{service}")["service_connect_configuration"]["log_configuration"]
    assert logs == {
        "log_driver": "awslogs",
        "options": {
            "awslogs-group": stack.ref("aws_cloudwatch_log_group", group_id, "name"),
            "awslogs-region": "us-west-2",
            "awslogs-stream-prefix": "service-connect",
        },
    }


def test_a_discoverable_service_serves_its_named_port_a_worker_is_a_client(connected):
    stack = connected.stack("services-dev")
    web = _service(stack, "dev-web")["service_connect_configuration"]
    assert web["service"] == [
        {
            "port_name": "web",
            "discovery_name": "web",
            "client_alias": {"port": 8080, "dns_name": "web.dev.internal"},
        }
    ]
    (mapping,) = _app_container(stack, "dev-web")["portMappings"]
    assert (mapping["name"], mapping["appProtocol"], mapping["containerPort"]) == (
        "web",
        "http",
        8080,
    )
    worker = _service(stack, "dev-worker")["service_connect_configuration"]
    assert "service" not in worker, "a client only"
    assert "portMappings" not in _app_container(stack, "dev-worker")
