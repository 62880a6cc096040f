"""Container definitions for a service's task: the app plus the config-agent sidecar.

Pure Python (no cdktf): the definitions are one JSON string built with `json.dumps`, so the
synth makes no jsii round trips for them. Values may be cdktf string tokens (ARNs, ids, URLs);
they resolve to Terraform references when the task definition is synthesized. Only resource
identifiers go into the environment; secret and config values come from the sidecar at runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config_agent import contract
from modules.service_config import ServiceConfig
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
    command=(
        "CMD",
        "python",
        "-c",
        f"import urllib.request; urllib.request.urlopen('{AGENT_URL}/health', timeout=2)",
    ),
    interval_seconds=10,
    timeout_seconds=3,
    retries=3,
    start_period_seconds=20,
)
CONFIG_FILES_VOLUME = "config-files"
"""Task-scoped volume (no host path: it lives and dies with the task) the agent writes to."""
AGENT_OUTPUT_DIR = contract.OUTPUT_DIR
TOKEN_VARIABLE = contract.TOKEN
"""Injected by ECS from Secrets Manager into both containers; the app sends it to the agent as
the `contract.TOKEN_HEADER` header."""
LOG_ROUTER_CONTAINER = "log-router"
FLUENT_BIT_IMAGE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.16"
"""AWS for Fluent Bit from the ECR Public Gallery, pinned to a release tag (never `latest` or
`stable`, which still point at the 2.x line: aws/aws-for-fluent-bit#1131): a new router version
is a reviewed change of this line. 3.x (Amazon Linux 2023, Fluent Bit 4+) is the supported line;
2.x reached end of life on 2026-06-30 (aws-for-fluent-bit README; release v3.4.16:
https://github.com/aws/aws-for-fluent-bit/releases/tag/v3.4.16). Pinned by tag only: the
digest must be read from the registry (`docker buildx imagetools inspect`), which this build
cannot reach; add `@sha256:...` when it can."""
LOG_ROUTER_CPU = 32
LOG_ROUTER_MEMORY = 128
"""MiB hard limit of the router, on top of the app's and the agent's: above the 50 MiB AWS
suggests reserving for a FireLens router, so a burst of retries is buffered, not OOM-killed."""


@dataclass(frozen=True)
class FirehoseLogRouting:
    """FireLens: a Fluent Bit sidecar forwards the app's log lines to a Firehose stream."""

    delivery_stream: str
    """The stream's name (may be a token)."""
    grant: Mapping[str, Any]
    """The task role statement allowing PutRecordBatch on that stream (the stream's
    `grant_put_records()`)."""
    image: str = FLUENT_BIT_IMAGE


@dataclass(frozen=True)
class ContainerProps:
    """The app container (strings may be tokens)."""

    image: str
    cpu: int
    """CPU units of the app; the task reserves AGENT_CPU more for the sidecar."""
    memory: int
    """MiB hard limit of the app; the task adds AGENT_MEMORY for the sidecar."""
    port: int | None = None
    """TCP port the app serves on (awsvpc: the host port too); None: it serves none."""
    port_name: str | None = None
    """Names the port (HTTP) so Service Connect can serve it; None: unnamed. Needs `port`."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """The app's own variables; the task adds the agent URL, region and config identifiers."""
    health_check: HealthCheck | None = None
    """Run by ECS inside the app container; None: none (the sidecar always has its own)."""
    command: tuple[str, ...] = ()
    """Overrides the image's CMD; empty: the image's."""
    entry_point: tuple[str, ...] = ()
    """Overrides the image's ENTRYPOINT; empty: the image's."""
    files_path: str | None = None
    """Also get config and secrets as files: the agent writes them to a task-scoped volume
    mounted read-only here; None: the HTTP API only."""
    log_routing: FirehoseLogRouting | None = None
    """Send the app's stdout/stderr through a FireLens router to a Firehose stream instead of
    CloudWatch; None: awslogs to the service's log group (the default)."""

    def __post_init__(self) -> None:
        if self.port_name is not None and self.port is None:
            raise ValueError(f"port name {self.port_name!r} needs a port")


@dataclass(frozen=True)
class ConfigAgentSidecar:
    """The config-agent sidecar: its image and the service config it serves."""

    image: str
    config: ServiceConfig


def _pairs(variables: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in sorted(variables.items())]


def _health_check(hc: HealthCheck) -> dict[str, Any]:
    return {
        "command": list(hc.command),
        "interval": hc.interval_seconds,
        "timeout": hc.timeout_seconds,
        "retries": hc.retries,
        "startPeriod": hc.start_period_seconds,
    }


def _logs(log_group: str, region: str, prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": prefix,
        },
    }


def _firelens(routing: FirehoseLogRouting, region: str) -> dict[str, Any]:
    """The app's log configuration with FireLens: Fluent Bit's kinesis_firehose output
    (the Go plugin's successor, AWS for Fluent Bit docs), each line a JSON record with the
    task's ECS metadata (ECS Developer Guide, "Send Amazon ECS logs to an AWS service or AWS
    Partner": `awsfirelens` log driver, options become the output's configuration)."""
    return {
        "logDriver": "awsfirelens",
        "options": {
            "Name": "kinesis_firehose",
            "region": region,
            "delivery_stream": routing.delivery_stream,
            "time_key": "@timestamp",
            "time_key_format": "%Y-%m-%dT%H:%M:%S.%3N%z",
        },
    }


def log_router_container(
    routing: FirehoseLogRouting, log_group: str, region: str
) -> dict[str, Any]:
    """The FireLens `log-router` sidecar: essential (a task whose logs cannot leave must not
    serve), read-only root, its own logs to CloudWatch (a router cannot route its own)."""
    return {
        "name": LOG_ROUTER_CONTAINER,
        "image": routing.image,
        "essential": True,
        "cpu": LOG_ROUTER_CPU,
        "memory": LOG_ROUTER_MEMORY,
        "firelensConfiguration": {
            "type": "fluentbit",
            "options": {"enable-ecs-log-metadata": "true"},
        },
        "readonlyRootFilesystem": True,
        "logConfiguration": _logs(log_group, region, LOG_ROUTER_CONTAINER),
    }


def log_routing_statements(app: ContainerProps) -> list[dict[str, Any]]:
    """What the task role needs for the app's log routing: the stream grant, or nothing."""
    return [dict(app.log_routing.grant)] if app.log_routing is not None else []


def _token_secret(config: ServiceConfig) -> list[dict[str, str]]:
    return [{"name": TOKEN_VARIABLE, "valueFrom": config.token_secret_arn}]


def agent_variables(config: ServiceConfig, region: str, files: bool = False) -> dict[str, str]:
    """The sidecar's variables: its config (`ServiceConfig.agent_environment`), port and region;
    with `files`, the directory it writes every value to."""
    env = {
        **config.agent_environment(),
        contract.PORT_VARIABLE: str(CONFIG_AGENT_PORT),
        "AWS_REGION": region,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if files:
        env[contract.OUTPUT_DIR_VARIABLE] = AGENT_OUTPUT_DIR
    return env


def app_variables(
    own: Mapping[str, str], config: ServiceConfig, region: str, work_queue_url: str | None = None
) -> dict[str, str]:
    """The app's variables: its own settings plus identifiers (never values) of its resources."""
    env = {**own, "CONFIG_AGENT_URL": AGENT_URL, "AWS_REGION": region, **config.app_environment()}
    if work_queue_url is not None:
        env["WORK_QUEUE_URL"] = work_queue_url
    return env


def agent_container(
    agent: ConfigAgentSidecar, log_group: str, region: str, files: bool = False
) -> dict[str, Any]:
    """The essential `config-agent` sidecar with its own health check and read-only root.

    Fan-out mode: the agent creates `<prefix><task id>` (SSE-KMS, redrive to the DLQ), subscribes
    it to the topic and reads its task id and cluster from ECS task metadata (v4, set by ECS).
    With `files` it also writes every value to the task's config volume.
    """
    env = agent_variables(agent.config, region, files)
    container: dict[str, Any] = {
        "name": AGENT_CONTAINER,
        "image": agent.image,
        "essential": True,
        "cpu": AGENT_CPU,
        "memory": AGENT_MEMORY,
        "environment": _pairs(env),
        "secrets": _token_secret(agent.config),
        "healthCheck": _health_check(AGENT_HEALTH_CHECK),
        "readonlyRootFilesystem": True,
        "logConfiguration": _logs(log_group, region, AGENT_CONTAINER),
    }
    if files:
        container["mountPoints"] = [
            {
                "sourceVolume": CONFIG_FILES_VOLUME,
                "containerPath": AGENT_OUTPUT_DIR,
                "readOnly": False,
            }
        ]
    return container


def app_container(
    name: str,
    app: ContainerProps,
    config: ServiceConfig,
    log_group: str,
    region: str,
    work_queue_url: str | None = None,
) -> dict[str, Any]:
    """The application container; starts only once the sidecar reports HEALTHY. Its variables
    are its own settings plus identifiers (never values) of its resources."""
    env = app_variables(app.environment, config, region, work_queue_url)
    container: dict[str, Any] = {
        "name": name,
        "image": app.image,
        "essential": True,
        "cpu": app.cpu,
        "memory": app.memory,
        "environment": _pairs(env),
        "secrets": _token_secret(config),
        "dependsOn": [{"containerName": AGENT_CONTAINER, "condition": "HEALTHY"}],
        "logConfiguration": _logs(log_group, region, name),
    }
    if app.log_routing is not None:
        container["logConfiguration"] = _firelens(app.log_routing, region)
        container["dependsOn"].append({"containerName": LOG_ROUTER_CONTAINER, "condition": "START"})
    if app.entry_point:
        container["entryPoint"] = list(app.entry_point)
    if app.command:
        container["command"] = list(app.command)
    if app.port is not None:
        mapping: dict[str, Any] = {
            "containerPort": app.port,
            "hostPort": app.port,
            "protocol": "tcp",
        }
        if app.port_name is not None:
            mapping.update(name=app.port_name, appProtocol="http")
        container["portMappings"] = [mapping]
    if app.health_check is not None:
        container["healthCheck"] = _health_check(app.health_check)
    if app.files_path is not None:
        container["mountPoints"] = [
            {"sourceVolume": CONFIG_FILES_VOLUME, "containerPath": app.files_path, "readOnly": True}
        ]
    return container


def container_definitions(
    name: str,
    app: ContainerProps,
    agent: ConfigAgentSidecar,
    log_group: str,
    region: str,
    work_queue_url: str | None = None,
) -> list[dict[str, Any]]:
    """[app, sidecar(s)]: the task's containers, each logging to `log_group` under its name,
    except an app with `log_routing`, whose lines go through the `log-router` sidecar."""
    containers = [
        app_container(name, app, agent.config, log_group, region, work_queue_url),
        agent_container(agent, log_group, region, files=app.files_path is not None),
    ]
    if app.log_routing is not None:
        containers.append(log_router_container(app.log_routing, log_group, region))
    return containers


def container_definitions_json(
    name: str,
    app: ContainerProps,
    agent: ConfigAgentSidecar,
    log_group: str,
    region: str,
    work_queue_url: str | None = None,
) -> str:
    """`container_definitions` for aws_ecs_task_definition."""
    return json.dumps(container_definitions(name, app, agent, log_group, region, work_queue_url))


def task_cpu(app_cpu: int, log_router: bool = False) -> int:
    """Task-level CPU units: the app plus the sidecar (and the log router)."""
    return app_cpu + AGENT_CPU + (LOG_ROUTER_CPU if log_router else 0)


def task_memory(app_memory: int, log_router: bool = False) -> int:
    """Task-level memory (MiB): the app plus the sidecar (and the log router)."""
    return app_memory + AGENT_MEMORY + (LOG_ROUTER_MEMORY if log_router else 0)
