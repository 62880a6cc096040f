"""Service specs: applications are declared as data, not code.

Adding an application to an environment is adding one `ServiceSpec` to its `services` tuple in
`settings/environments.py`; every stack derives that service's resources from the spec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Mapping

from config_agent import contract
from settings import feature_flags

CONFIG_AGENT_PORT = contract.PORT
"""Port the config-agent sidecar serves on (the AWS AppConfig Agent's default)."""


@dataclass(frozen=True)
class HealthCheck:
    """Container health check, as ECS runs it inside the container."""

    command: tuple[str, ...]
    interval_seconds: int = 30
    timeout_seconds: int = 5
    retries: int = 3
    start_period_seconds: int = 15


@dataclass(frozen=True)
class ScalingSpec:
    """Task count bounds and the targets application autoscaling tracks."""

    min_tasks: int = 1
    max_tasks: int = 4
    cpu_target_percent: int = 60
    memory_target_percent: int = 75
    queue_scaling: bool = False
    """Step scaling on the depth (ApproximateNumberOfMessagesVisible) of the service's work
    queue; requires `ServiceSpec.work_queue`."""
    queue_scale_out_messages: int = 100
    """Visible messages at or above which the worker scales out."""
    queue_scale_in_messages: int = 10
    """Visible messages at or below which the worker scales in."""


@dataclass(frozen=True)
class LoadBalancerSpec:
    """Put the service behind the environment's internet-facing ALB."""

    health_check_path: str = "/health"
    certificate_arn: str | None = None
    """HTTPS listener (and HTTP->HTTPS redirect) when set; plain HTTP otherwise."""
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)


FREEFORM = "AWS.Freeform"
FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
PROFILE_TYPES = (FREEFORM, FEATURE_FLAGS)


def _default_schema() -> dict[str, object]:
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}


@dataclass(frozen=True)
class ConfigProfileSpec:
    """A hosted AppConfig profile: freeform JSON validated by a JSON schema (the default), or
    feature flags (`type=FEATURE_FLAGS`), which apps read through the agent's `?flag=`."""

    name: str = "app"
    json_schema: Mapping[str, object] = field(default_factory=_default_schema)
    """Freeform only: AppConfig validates feature flags against its own format."""
    initial_content: Mapping[str, object] = field(default_factory=dict)
    """Feature flags: the flag set in AppConfig's format (settings/feature_flags.py)."""
    type: str = FREEFORM

    @property
    def initial_content_json(self) -> str:
        """The first hosted configuration version, as deployed at creation."""
        return json.dumps(self.initial_content, sort_keys=True)

    def problem(self) -> tuple[str, str] | None:
        """(field, reason) if the schema is invalid or the initial content breaks it.

        AppConfig would only reject it when the first deployment runs, mid-apply; this fails
        at synth instead.
        """
        if self.type not in PROFILE_TYPES:
            return "type", f"{self.type!r} must be one of {', '.join(PROFILE_TYPES)}"
        if self.type == FEATURE_FLAGS:
            return self._flags_problem()
        import jsonschema  # only needed when validating settings

        try:
            jsonschema.validators.validator_for(self.json_schema).check_schema(self.json_schema)
        except jsonschema.SchemaError as exc:
            return "json_schema", f"is not a valid JSON schema: {exc.message}"
        try:
            jsonschema.validate(self.initial_content, self.json_schema)
        except jsonschema.ValidationError as exc:
            return "initial_content", f"does not match json_schema: {exc.message}"
        return None

    def _flags_problem(self) -> tuple[str, str] | None:
        if self.json_schema != _default_schema():
            return "json_schema", ("feature-flag profiles take no JSON schema: AppConfig "
                                   "validates the flag format itself")
        reason = feature_flags.problem(self.initial_content)
        if reason:
            return "initial_content", f"is not an AppConfig feature-flag set: {reason}"
        return None


@dataclass(frozen=True)
class ServiceSpec:
    """One application: its container, scaling, exposure and the config it consumes."""

    name: str
    cpu: int
    memory: int
    image: str | None = None
    """Image URI (preferred). Exactly one of `image` and `build_context` must be set."""
    build_context: str | None = None
    container_port: int | None = None
    desired_count: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    scaling: ScalingSpec = ScalingSpec()
    load_balancer: LoadBalancerSpec | None = None
    service_discovery: bool = False
    config_profile: ConfigProfileSpec | None = ConfigProfileSpec()
    secrets: tuple[str, ...] = ()
    """Secret short names; each becomes `/<env>/<service>/<name>` in Secrets Manager."""
    config_files_path: str | None = None
    """Also get config and secrets as files: the agent writes them to a task-scoped volume
    mounted read-only here in the app container (`<path>/secrets/<name>`,
    `<path>/configurations/<profile>`). Files are mode 0600 owned by the agent's uid 10001, so
    the app must run as that uid to read them; the HTTP API has no such constraint."""
    work_queue: bool = False
    """Give the service its own SQS work queue (with DLQ) for jobs, e.g. a queue-driven worker."""
    database_port: int | None = None
    """Create a DB security group that admits this port only from the service's SG."""
    allow_from: tuple[str, ...] = ()
    """Names of other services in the same environment that may call this one on its
    `container_port` (SG to SG: ingress here, egress on the caller). They find it at
    `<name>.<env>.internal` when `service_discovery` is on."""

    def with_(self, **changes: object) -> "ServiceSpec":
        """A copy with some fields changed: how environments size a shared spec."""
        return replace(self, **changes)


WEB = ServiceSpec(
    name="web",
    image="public.ecr.aws/nginx/nginx:1.27",
    cpu=256,
    memory=512,
    container_port=8080,
    desired_count=2,
    environment={"LOG_LEVEL": "info"},
    health_check=HealthCheck(command=("CMD-SHELL", "curl -fs http://127.0.0.1:8080/health || exit 1")),
    scaling=ScalingSpec(min_tasks=2, max_tasks=6),
    load_balancer=LoadBalancerSpec(),
    service_discovery=True,
    config_profile=ConfigProfileSpec(
        name="app",
        json_schema={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"feature_flags": {"type": "object"},
                           "greeting": {"type": "string"}},
            "additionalProperties": True,
        },
        initial_content={"greeting": "hello", "feature_flags": {}},
    ),
    secrets=("db-password", "api-key"),
    database_port=5432,
)

WORKER = ServiceSpec(
    name="worker",
    image="public.ecr.aws/docker/library/python:3.12-slim",
    cpu=256,
    memory=512,
    desired_count=1,
    environment={"LOG_LEVEL": "info"},
    scaling=ScalingSpec(min_tasks=1, max_tasks=10, queue_scaling=True),
    work_queue=True,
    config_profile=ConfigProfileSpec(name="app", initial_content={"batch_size": 10}),
    secrets=("queue-credentials",),
)
