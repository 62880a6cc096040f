"""Container definitions for a service's task: the app plus the config-agent sidecar.

Pure Python (no cdktf): the definitions are one JSON string built with `json.dumps`, so the
synth makes no jsii round trips for them. Values may be cdktf string tokens (ARNs, ids, URLs);
they resolve to Terraform references when the task definition is synthesized. Only resource
identifiers go into the environment; secret and config values come from the sidecar at runtime.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from config_agent import contract
from settings.services import CONFIG_AGENT_PORT, HealthCheck

AGENT_CONTAINER = "config-agent"
AGENT_CPU = 64
"""CPU units reserved for the sidecar, on top of the app's."""
AGENT_MEMORY = 128
"""MiB hard limit of the sidecar, on top of the app's."""
AGENT_URL = f"http://127.0.0.1:{CONFIG_AGENT_PORT}"
"""awsvpc: containers of one task share a network namespace, so the app reaches the sidecar on
loopback and the port is never exposed outside the task."""
AGENT_HEALTH_CHECK = HealthCheck(
    command=("CMD", "python", "-c",
             "import urllib.request; urllib.request.urlopen("
             f"'{AGENT_URL}/health', timeout=2)"),
    interval_seconds=10, timeout_seconds=3, retries=3, start_period_seconds=20)
CONFIG_FILES_VOLUME = "config-files"
"""Task-scoped volume (no host path: it lives and dies with the task) the agent writes to."""
AGENT_OUTPUT_DIR = contract.OUTPUT_DIR
TOKEN_VARIABLE = contract.TOKEN
"""Injected by ECS from Secrets Manager into both containers; the app sends it to the agent as
the `contract.TOKEN_HEADER` header."""


@dataclass(frozen=True)
class ContainerInputs:
    """Everything the two container definitions are built from (strings may be tokens)."""

    service: str
    app_image: str
    agent_image: str
    cpu: int
    memory: int
    region: str
    log_group: str
    container_port: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    command: tuple[str, ...] = ()
    entry_point: tuple[str, ...] = ()
    config_topic_arn: str = ""
    queue_name_prefix: str = ""
    dlq_arn: str = ""
    max_receive_count: int = 5
    queue_kms_key_arn: str = ""
    application_id: str = ""
    environment_id: str = ""
    profile_id: str | None = None
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    agent_token_secret_arn: str | None = None
    work_queue_url: str | None = None
    config_files_path: str | None = None
    port_name: str | None = None
    """Names the container port (HTTP): what Service Connect's server configuration refers to."""


def secret_variable(short_name: str) -> str:
    """`SECRET_ARN_<NAME>`: the app variable holding one secret's ARN."""
    return "SECRET_ARN_" + re.sub(r"[^A-Z0-9]", "_", short_name.upper())


def _pairs(variables: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in sorted(variables.items())]


def _health_check(hc: HealthCheck) -> dict[str, Any]:
    return {"command": list(hc.command), "interval": hc.interval_seconds,
            "timeout": hc.timeout_seconds, "retries": hc.retries,
            "startPeriod": hc.start_period_seconds}


def _logs(i: ContainerInputs, prefix: str) -> dict[str, Any]:
    return {"logDriver": "awslogs", "options": {
        "awslogs-group": i.log_group, "awslogs-region": i.region,
        "awslogs-stream-prefix": prefix}}


def _token_secret(i: ContainerInputs) -> list[dict[str, str]]:
    if i.agent_token_secret_arn is None:
        return []
    return [{"name": TOKEN_VARIABLE, "valueFrom": i.agent_token_secret_arn}]


def agent_environment(i: ContainerInputs) -> dict[str, str]:
    """The sidecar's variables, named by `config_agent.contract` (read by its settings).

    Fan-out mode: the agent creates `<prefix><task id>` (SSE-KMS, redrive to the DLQ), subscribes
    it to the topic and reads its task id and cluster from ECS task metadata (v4, set by ECS).
    """
    env = {
        contract.TOPIC_ARN: i.config_topic_arn,
        contract.QUEUE_PREFIX: i.queue_name_prefix,
        contract.DLQ_ARN: i.dlq_arn,
        contract.MAX_RECEIVE_COUNT: str(i.max_receive_count),
        contract.QUEUE_KMS_KEY: i.queue_kms_key_arn,
        contract.SECRET_IDS: ",".join(i.secret_arns[k] for k in sorted(i.secret_arns)),
        contract.PORT_VARIABLE: str(CONFIG_AGENT_PORT),
        "AWS_REGION": i.region,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if i.config_files_path is not None:
        env[contract.OUTPUT_DIR_VARIABLE] = AGENT_OUTPUT_DIR
    if i.profile_id is not None:
        env.update({contract.APPCONFIG_APPLICATION: i.application_id,
                    contract.APPCONFIG_ENVIRONMENT: i.environment_id,
                    contract.APPCONFIG_PROFILE: i.profile_id})
    return env


def app_environment(i: ContainerInputs) -> dict[str, str]:
    """The app's variables: its own settings plus identifiers (never values) of its resources."""
    env = {**i.environment, "CONFIG_AGENT_URL": AGENT_URL, "AWS_REGION": i.region}
    if i.profile_id is not None:
        env.update({"APPCONFIG_APPLICATION_ID": i.application_id,
                    "APPCONFIG_ENVIRONMENT_ID": i.environment_id,
                    "APPCONFIG_PROFILE_ID": i.profile_id})
    for short_name, arn in i.secret_arns.items():
        env[secret_variable(short_name)] = arn
    if i.work_queue_url is not None:
        env["WORK_QUEUE_URL"] = i.work_queue_url
    return env


def agent_container(i: ContainerInputs) -> dict[str, Any]:
    """The essential `config-agent` sidecar with its own health check and read-only root."""
    container: dict[str, Any] = {
        "name": AGENT_CONTAINER, "image": i.agent_image, "essential": True,
        "cpu": AGENT_CPU, "memory": AGENT_MEMORY,
        "environment": _pairs(agent_environment(i)), "secrets": _token_secret(i),
        "healthCheck": _health_check(AGENT_HEALTH_CHECK),
        "readonlyRootFilesystem": True,
        "logConfiguration": _logs(i, AGENT_CONTAINER),
    }
    if i.config_files_path is not None:
        container["mountPoints"] = [{"sourceVolume": CONFIG_FILES_VOLUME,
                                     "containerPath": AGENT_OUTPUT_DIR, "readOnly": False}]
    return container


def app_container(i: ContainerInputs) -> dict[str, Any]:
    """The application container; starts only once the sidecar reports HEALTHY."""
    container: dict[str, Any] = {
        "name": i.service, "image": i.app_image, "essential": True,
        "cpu": i.cpu, "memory": i.memory,
        "environment": _pairs(app_environment(i)), "secrets": _token_secret(i),
        "dependsOn": [{"containerName": AGENT_CONTAINER, "condition": "HEALTHY"}],
        "logConfiguration": _logs(i, i.service),
    }
    if i.entry_point:
        container["entryPoint"] = list(i.entry_point)
    if i.command:
        container["command"] = list(i.command)
    if i.container_port is not None:
        mapping: dict[str, Any] = {"containerPort": i.container_port,
                                   "hostPort": i.container_port, "protocol": "tcp"}
        if i.port_name is not None:
            mapping.update(name=i.port_name, appProtocol="http")
        container["portMappings"] = [mapping]
    if i.health_check is not None:
        container["healthCheck"] = _health_check(i.health_check)
    if i.config_files_path is not None:
        container["mountPoints"] = [{"sourceVolume": CONFIG_FILES_VOLUME,
                                     "containerPath": i.config_files_path, "readOnly": True}]
    return container


def container_definitions(i: ContainerInputs) -> list[dict[str, Any]]:
    """[app, sidecar]: the task's containers."""
    return [app_container(i), agent_container(i)]


def container_definitions_json(i: ContainerInputs) -> str:
    """`container_definitions` for aws_ecs_task_definition."""
    return json.dumps(container_definitions(i))


def task_cpu(app_cpu: int) -> int:
    """Task-level CPU units: the app plus the sidecar."""
    return app_cpu + AGENT_CPU


def task_memory(app_memory: int) -> int:
    """Task-level memory (MiB): the app plus the sidecar."""
    return app_memory + AGENT_MEMORY
