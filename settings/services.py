"""Service specs: applications are declared as data, not code.

The schema of a service (`ServiceSpec` and its parts), then the two sample services every
shipped environment sizes and runs (`WEB`, `WORKER`; their code is under samples/). Adding an
application to an environment is adding one `ServiceSpec` to its `services` tuple in
`settings/environments.py`; the stacks translate the spec into construct props.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from config_agent import contract
from samples import contract as samples
from settings import feature_flags
from settings.rules import config_profile_problem

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
    """Target tracking on the work queue's backlog per task (visible messages / running tasks,
    by metric math), as Copilot's `queue_delay` does; requires `ServiceSpec.work_queue`."""
    backlog_per_task: int = 10
    """Acceptable visible messages per running task: the longest acceptable queue delay
    divided by the time one task takes per message."""
    requests_per_target: int | None = None
    """Also track the ALB's requests per target (load-balanced services), e.g. 500/minute."""


@dataclass(frozen=True)
class LoadBalancerSpec:
    """Put the service behind the environment's internet-facing ALB (it health-checks the
    service's `health_check_path` on its container port)."""

    certificate_arn: str | None = None
    """HTTPS listener (and HTTP->HTTPS redirect) when set; plain HTTP otherwise."""
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)


FREEFORM = "AWS.Freeform"
FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
PROFILE_TYPES = (FREEFORM, FEATURE_FLAGS)


def _default_schema() -> dict[str, object]:
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}


class Rollout(StrEnum):
    """How ECS replaces a service's tasks (ECS `deploymentConfiguration.strategy`).

    Every strategy but ROLLING is ECS-native blue/green with managed traffic shifting: ECS
    starts the new revision beside the old one behind an alternate target group, then moves the
    production listener rule's weights to it (ECS Developer Guide, "Amazon ECS blue/green
    deployments", "Linear deployments", "Canary deployments")."""

    ROLLING = "ROLLING"
    """Replace tasks in place, 100 % / 200 %; the circuit breaker and the alarms roll back."""
    BLUE_GREEN = "BLUE_GREEN"
    """Start the full new revision, move all production traffic at once, bake, stop the old."""
    CANARY = "CANARY"
    """Move `canary.percent` of traffic, wait `canary.bake_minutes`, then move the rest."""
    LINEAR = "LINEAR"
    """Move `linear.step_percent` of traffic every `linear.step_bake_minutes` until 100 %."""


@dataclass(frozen=True)
class CanaryShift:
    """CANARY traffic shift; the defaults are ECS's (API reference, CanaryConfiguration)."""

    percent: float = 5.0
    """Share of production traffic the new revision gets first: a multiple of 0.1, 0.1-100."""
    bake_minutes: int = 10
    """Minutes at that share before the rest moves (0-1440); alarms roll back meanwhile."""


@dataclass(frozen=True)
class LinearShift:
    """LINEAR traffic shift; the defaults are ECS's (API reference, LinearConfiguration)."""

    step_percent: float = 10.0
    """Share of production traffic moved per step: a multiple of 0.1, 3-100."""
    step_bake_minutes: int = 6
    """Minutes between steps (0-1440)."""


@dataclass(frozen=True)
class TestListener:
    """A second ALB listener port on which the new revision answers before production traffic
    moves to it (ECS points the test listener rule at the green target group first)."""

    __test__ = False  # a settings class, not a pytest test class
    port: int
    allowed_cidrs: tuple[str, ...]
    """Who may reach the unreleased revision: required, there is no public default."""


@dataclass(frozen=True)
class LifecycleHook:
    """A Lambda function ECS invokes at deployment stages; it answers SUCCEEDED, IN_PROGRESS
    (ask again) or FAILED (roll back). ECS invokes it through a role scoped to this function
    (ECS Developer Guide, "Lifecycle hooks for Amazon ECS service deployments")."""

    function_arn: str
    stages: tuple[str, ...]
    """ECS lifecycle stages, e.g. ("POST_TEST_TRAFFIC_SHIFT",) to test the green revision."""


@dataclass(frozen=True)
class DeploymentSpec:
    """How a service's new revisions reach production; the env table sets it per env."""

    strategy: Rollout = Rollout.ROLLING
    bake_minutes: int | None = None
    """Traffic-shifting strategies only: minutes both revisions keep running after all traffic
    moved, alarms still able to roll back (0-1440). None: DEFAULT_BAKE_MINUTES."""
    canary: CanaryShift | None = None
    """CANARY only; None: ECS's defaults."""
    linear: LinearShift | None = None
    """LINEAR only; None: ECS's defaults."""
    test_listener: TestListener | None = None
    """Traffic-shifting strategies only: a test port serving the green revision first."""
    lifecycle_hooks: tuple[LifecycleHook, ...] = ()
    """Traffic-shifting strategies only."""

    @property
    def shifts_traffic(self) -> bool:
        """True for ECS-native blue/green strategies (an alternate target group and a
        production listener rule that ECS reweights)."""
        return self.strategy is not Rollout.ROLLING


DEFAULT_BAKE_MINUTES = 10
"""Bake time of a traffic-shifting deployment unless the spec sets one."""


@dataclass(frozen=True)
class AlarmSpec:
    """Thresholds of the alarms a deployment rolls back on (and that notify the env's alarm
    topic): which alarms a service gets depends on its kind (ALB, queue worker, any)."""

    missing_tasks_minutes: int = 10
    """Every service: running tasks below desired for this many minutes in a row (1-60); long
    enough for the capacity provider to launch an instance for new tasks."""
    max_5xx_percent: float = 5.0
    """ALB services: target 5xx responses as a share of requests of any one target group (the
    canary's own rate, not one diluted by the old revision's), 3 minutes in a row."""
    min_requests_per_minute: int = 20
    """ALB services: a target group's minute counts toward the 5xx rate only with at least this
    many requests, so one stray error of a quiet group cannot trip the alarm (below 20
    requests a single 5xx is already over 5 %). A canary must get this many requests a minute
    to be judged: at 10 % that is 200 a minute in all (1-100000)."""
    max_p99_latency_seconds: float = 2.0
    """ALB services: p99 target response time, 5 minutes in a row."""
    max_queue_age_seconds: int = 900
    """Services with a work queue: age of the oldest message, 10 minutes in a row (60 s to the
    14-day retention limit)."""


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
        """(field, reason) if the type is unknown, the schema invalid, or the initial content
        breaks it (AppConfig would only reject it when the first deployment runs, mid-apply)."""
        if self.type not in PROFILE_TYPES:
            return "type", f"{self.type!r} must be one of {', '.join(PROFILE_TYPES)}"
        if self.type == FEATURE_FLAGS:
            return self._flags_problem()
        return config_profile_problem(self.json_schema, self.initial_content)

    def _flags_problem(self) -> tuple[str, str] | None:
        if self.json_schema != _default_schema():
            return "json_schema", (
                "feature-flag profiles take no JSON schema: AppConfig "
                "validates the flag format itself"
            )
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
    """Prebuilt image URI (e.g. a vendor image). None: the image is built from `dockerfile`
    and pushed to this env's ECR repository `<name>` (registry stack) at the env's image
    tag; exactly one of `image` and `dockerfile` is set."""
    dockerfile: str | None = None
    """Dockerfile path from the repository root (also the build context), for `make images`."""
    command: tuple[str, ...] = ()
    """Container `command` (overrides the image's CMD); empty keeps the image's."""
    entry_point: tuple[str, ...] = ()
    """Container `entryPoint` (overrides the image's ENTRYPOINT); empty keeps the image's."""
    container_port: int | None = None
    desired_count: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    """Container health check ECS runs inside the app container."""
    architecture: str | None = None
    """`x86_64` or `arm64` (task `runtime_platform`); None: the cluster's on-demand group's.
    `arm64` runs on the env's Graviton capacity only."""
    health_check_path: str | None = None
    """HTTP path that answers 2xx/3xx while the app is healthy: what the ALB target group
    checks on the container port (required with `load_balancer`)."""
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
    deployment: DeploymentSpec = DeploymentSpec()
    """Rolling by default; BLUE_GREEN, CANARY and LINEAR need a `load_balancer`."""
    alarms: AlarmSpec = AlarmSpec()
    """Deployment-rollback alarm thresholds."""
    export_logs: bool = False
    """Route the app container's logs through a FireLens (Fluent Bit) sidecar to the env's
    `services_settings.log_export` OpenSearch destination instead of CloudWatch; the config
    agent's and the router's own logs stay in CloudWatch."""

    def with_(self, **changes: object) -> ServiceSpec:
        """A copy with some fields changed: how environments size a shared spec."""
        # The values are checked at run time (the dataclass's __post_init__, then
        # validation.check_types); mypy checks replace() per field, which `object` cannot meet.
        return replace(self, **changes)  # type: ignore[arg-type]


# --- the sample services (samples/web, samples/worker) ---------------------------------------

WEB = ServiceSpec(
    name="web",
    dockerfile="samples/web/Dockerfile",
    cpu=256,
    memory=512,
    container_port=samples.WEB_PORT,
    desired_count=2,
    environment={"LOG_LEVEL": "info"},
    health_check=HealthCheck(command=samples.WEB_HEALTH_CHECK_COMMAND),
    health_check_path=samples.HEALTH_PATH,
    scaling=ScalingSpec(min_tasks=2, max_tasks=6),
    load_balancer=LoadBalancerSpec(),
    service_discovery=True,
    config_profile=ConfigProfileSpec(
        name="app",
        json_schema={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"feature_flags": {"type": "object"}, "greeting": {"type": "string"}},
            "additionalProperties": True,
        },
        initial_content={"greeting": "hello", "feature_flags": {}},
    ),
    secrets=("db-password", "api-key"),
    database_port=5432,
)

WORKER = ServiceSpec(
    name="worker",
    dockerfile="samples/worker/Dockerfile",
    cpu=256,
    memory=512,
    desired_count=1,
    environment={"LOG_LEVEL": "info"},
    health_check=HealthCheck(command=samples.WORKER_HEALTH_CHECK_COMMAND),
    scaling=ScalingSpec(min_tasks=1, max_tasks=10, queue_scaling=True),
    work_queue=True,
    config_profile=ConfigProfileSpec(name="app", initial_content={"batch_size": 10}),
    secrets=("queue-credentials",),
)
