"""Validate the environment table before synth: one message naming the env and the field.

First every field is checked against its declared type (a wrong type would otherwise surface as
a TypeError deep inside a construct), then against the rules in `settings/rules.py`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from typing import Any

from settings import rules
from settings.capacity import placement_problem, service_architecture, strategies
from settings.images import CONFIG_AGENT_REPOSITORY
from settings.log_export import exporting_services_problem, log_export_problem
from settings.schema import (
    ClusterSettings,
    EnvironmentSettings,
    NetworkSettings,
    OffHours,
    S3State,
    TerraformCloudState,
)
from settings.services import DeploymentSpec, Rollout, ServiceSpec, TestListener


class SettingsError(ValueError):
    """An invalid environment setting; the message names the environment and field."""


def _fail(env: str, field_path: str, problem: str) -> SettingsError:
    return SettingsError(f"environment {env!r}: {field_path}: {problem}")


def _check(env: str, field_path: str, problem: str | None) -> None:
    if problem:
        raise _fail(env, field_path, problem)


# --- types ------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _type_problem(value: Any, tp: Any, path: str, env: str) -> None:
    """Raise SettingsError if `value` is not of the annotated type `tp` (recursively)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return
        for option in options:
            if option is type(None):
                continue
            try:
                _type_problem(value, option, path, env)
                return
            except SettingsError:
                continue
        raise _fail(env, path, f"must be {_type_name(tp)}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, tuple):
            raise _fail(env, path, f"must be a tuple, got {value!r}")
        for i, item in enumerate(value):
            _type_problem(item, args[0], f"{path}[{i}]", env)
        return
    if origin in (MappingABC, dict, typing.Mapping):
        key_type, value_type = typing.get_args(tp)
        if not isinstance(value, MappingABC):
            raise _fail(env, path, f"must be a mapping, got {value!r}")
        for key, item in value.items():
            _type_problem(key, key_type, f"{path} key", env)
            _type_problem(item, value_type, f"{path}[{key!r}]", env)
        return
    if tp is object or tp is Any:
        return
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        ok = isinstance(value, tp)
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise _fail(env, path, f"must be a {tp.__name__}, got {value!r}")
        check_types(value, path, env)
        return
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise _fail(env, path, f"must be {_type_name(tp)}, got {value!r}")


def check_types(obj: Any, path: str, env: str) -> None:
    """Every field of dataclass `obj` holds a value of its annotated type."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        where = f"{path}.{field.name}" if path else field.name
        _type_problem(getattr(obj, field.name), hints[field.name], where, env)


# --- rules ------------------------------------------------------------------------------------


def _check_state(env: str, state: S3State | TerraformCloudState) -> None:
    if isinstance(state, S3State):
        _check(env, "state.bucket", rules.bucket_name_problem(state.bucket))
        _check(env, "state.region", rules.region_problem(state.region))
    elif not state.organization:
        _check(env, "state.organization", "must not be empty")


def _check_deploy_role(env: EnvironmentSettings) -> None:
    role = env.deploy_role
    assert role is not None
    _check(env.name, "deploy_role.role_arn", rules.role_arn_problem(role.role_arn))
    if role.role_arn.split(":")[4] != env.account_id:
        raise _fail(
            env.name,
            "deploy_role.role_arn",
            f"{role.role_arn!r} is not in the env's account {env.account_id} (the "
            "provider only allows that account)",
        )
    if isinstance(env.state, TerraformCloudState):
        raise _fail(
            env.name,
            "deploy_role",
            "Terraform Cloud runs use the workspace's credentials; set the role there, not here",
        )
    if role.external_id is not None:
        _check(env.name, "deploy_role.external_id", rules.external_id_problem(role.external_id))
    _check(env.name, "deploy_role.session_name", rules.session_name_problem(role.session_name))


def _check_network(env: str, net: NetworkSettings) -> None:
    _check(env, "network.vpc_cidr", rules.vpc_cidr_problem(net.vpc_cidr))
    _check(env, "network.az_count", rules.between_problem(net.az_count, 2, rules.MAX_AZS))
    _check(
        env, "network.flow_log_retention_days", rules.retention_problem(net.flow_log_retention_days)
    )


def _check_cluster(env: str, c: ClusterSettings) -> None:
    if problem := rules.asg_size_problem(c.asg_min, c.asg_max, c.asg_desired):
        raise _fail(env, f"cluster.{problem[0]}", problem[1])
    _check(env, "cluster.target_capacity_percent", rules.percent_problem(c.target_capacity_percent))
    _check(
        env,
        "cluster.min_scaling_step",
        rules.scaling_step_problem(c.min_scaling_step, c.max_scaling_step),
    )
    if c.root_volume_gb < rules.MIN_ROOT_VOLUME_GB:
        raise _fail(
            env,
            "cluster.root_volume_gb",
            f"{c.root_volume_gb} GiB is below the ECS-optimized AMI's "
            f"{rules.MIN_ROOT_VOLUME_GB} GiB snapshot",
        )
    _check(env, "cluster.instance_type", rules.instance_type_problem(c.instance_type))
    if problem := rules.capacity_strategy_problem(
        c.capacity_provider_base, c.capacity_provider_weight
    ):
        raise _fail(env, f"cluster.{problem[0]}", problem[1])
    primary = rules.instance_architecture(c.instance_type)
    if c.spot is not None:
        _check(
            env, "cluster.spot.instance_types", rules.instance_types_problem(c.spot.instance_types)
        )
        if rules.instance_architecture(c.spot.instance_types[0]) != primary:
            raise _fail(
                env,
                "cluster.spot.instance_types",
                f"must be {primary} like cluster.instance_type: services spread over "
                "both groups with one image",
            )
        if problem := rules.asg_size_problem(c.spot.min_size, c.spot.max_size, c.spot.min_size):
            raise _fail(env, f"cluster.spot.{problem[0].replace('asg_', '')}_size", problem[1])
        _check(env, "cluster.spot.weight", rules.between_problem(c.spot.weight, 1, 1000))
    if c.graviton is not None:
        _check(
            env,
            "cluster.graviton.instance_type",
            rules.instance_type_problem(c.graviton.instance_type),
        )
        if rules.instance_architecture(c.graviton.instance_type) != "arm64":
            raise _fail(
                env,
                "cluster.graviton.instance_type",
                f"{c.graviton.instance_type!r} is not a Graviton (arm64) type",
            )
        if primary == "arm64":
            raise _fail(
                env,
                "cluster.graviton",
                "the on-demand group is arm64 already; arm64 services run there",
            )
        if problem := rules.asg_size_problem(
            c.graviton.min_size, c.graviton.max_size, c.graviton.min_size
        ):
            raise _fail(env, f"cluster.graviton.{problem[0].replace('asg_', '')}_size", problem[1])


def _check_pipeline(env: EnvironmentSettings) -> None:
    name, p = env.name, env.pipeline
    profiles = sum(1 for s in env.services if s.config_profile is not None)
    if problem := rules.appconfig_strategy_problem(
        p.deployment_strategy.value, p.deployment_minutes, p.bake_minutes, profiles
    ):
        raise _fail(name, f"pipeline.{problem[0]}", problem[1])
    _check(
        name,
        "pipeline.secret_recovery_days",
        rules.secret_recovery_days_problem(p.secret_recovery_days),
    )
    _check(
        name,
        "pipeline.dlq_max_receive_count",
        rules.max_receive_count_problem(p.dlq_max_receive_count),
    )
    if p.alarm_topic_arn is not None:
        _check(
            name,
            "pipeline.alarm_topic_arn",
            rules.sns_topic_arn_problem(p.alarm_topic_arn, env.region),
        )
    _check_fanout_safety_net(env)


def _check_fanout_safety_net(env: EnvironmentSettings) -> None:
    """Issue 27: the agents' safety refresh and the orphan-queue reaper's timing."""
    p = env.pipeline
    if p.agent_safety_refresh_seconds:  # 0 = off
        _check(
            env.name,
            "pipeline.agent_safety_refresh_seconds",
            rules.between_problem(p.agent_safety_refresh_seconds, 60, 7 * 86400),
        )
    # EventBridge schedules run at most once a minute; a day bounds how long orphans live.
    _check(
        env.name,
        "pipeline.orphan_sweep_minutes",
        rules.between_problem(p.orphan_sweep_minutes, 1, 1440),
    )
    _check(
        env.name,
        "pipeline.orphan_grace_seconds",
        rules.between_problem(p.orphan_grace_seconds, 60, 86400),
    )


def _check_service(env: str, i: int, s: ServiceSpec) -> None:
    _check(env, f"services[{i}].name", rules.service_name_problem(s.name))
    where = f"services[{s.name}]"
    _check_image_source(env, where, s)
    _check(env, f"{where}.cpu", rules.task_size_problem(s.cpu, s.memory))
    _check_scaling(env, where, s)
    _check_ports(env, where, s)
    if s.config_files_path is not None:
        _check(env, f"{where}.config_files_path", rules.absolute_path_problem(s.config_files_path))
    if s.config_profile is not None and (problem := s.config_profile.problem()):
        raise _fail(env, f"{where}.config_profile.{problem[0]}", problem[1])
    _check(env, f"{where}.secrets", rules.secret_names_problem(s.secrets))
    _check_deployment(env, f"{where}.deployment", s.deployment, s.load_balancer is not None)
    _check_alarms(env, where, s)


def _check_image_source(env: str, where: str, s: ServiceSpec) -> None:
    """Exactly one of a pulled image and a Dockerfile we build; not under the agent's name."""
    if (s.image is None) == (s.dockerfile is None):
        raise _fail(env, f"{where}.image", "set exactly one of image and dockerfile")
    if s.image is not None:
        _check(env, f"{where}.image", rules.image_uri_problem(s.image))
    if s.image is None and s.name == CONFIG_AGENT_REPOSITORY:
        raise _fail(
            env,
            f"{where}.name",
            f"{s.name!r} is the config agent's repository; "
            "name the service otherwise or give it an image",
        )


def _check_scaling(env: str, where: str, s: ServiceSpec) -> None:
    """Task counts, target percents, queue scaling (needs a queue and a running task) and
    request-count scaling (needs an ALB)."""
    sc = s.scaling
    if problem := rules.task_count_problem(sc.min_tasks, sc.max_tasks, s.desired_count):
        raise _fail(env, f"{where}.{problem[0]}", problem[1])
    for target in ("cpu_target_percent", "memory_target_percent"):
        _check(env, f"{where}.scaling.{target}", rules.percent_problem(getattr(sc, target)))
    if sc.queue_scaling and not s.work_queue:
        raise _fail(env, f"{where}.scaling.queue_scaling", "needs work_queue=True")
    if sc.queue_scaling:
        _check(
            env,
            f"{where}.scaling.backlog_per_task",
            rules.between_problem(sc.backlog_per_task, 1, 100000),
        )
        if sc.min_tasks < 1:
            raise _fail(
                env,
                f"{where}.scaling.min_tasks",
                "a queue-scaled service needs at "
                "least 1 task: backlog per task divides by the running tasks",
            )
    if sc.requests_per_target is not None:
        if s.load_balancer is None:
            raise _fail(
                env,
                f"{where}.scaling.requests_per_target",
                "needs a load_balancer (it tracks ALB requests per target)",
            )
        _check(
            env,
            f"{where}.scaling.requests_per_target",
            rules.between_problem(sc.requests_per_target, 1, 1000000),
        )


def _check_ports(env: str, where: str, s: ServiceSpec) -> None:
    """Container and database ports; a load-balanced service's port, health check path and
    allowed CIDRs."""
    if s.container_port is not None:
        _check(env, f"{where}.container_port", rules.port_problem(s.container_port))
    if s.load_balancer is not None:
        if s.container_port is None:
            raise _fail(env, f"{where}.load_balancer", "needs a container_port")
        if not (s.health_check_path or "").startswith("/"):
            raise _fail(
                env,
                f"{where}.health_check_path",
                "a load-balanced service needs a health_check_path starting with '/'",
            )
        for cidr in s.load_balancer.allowed_cidrs:
            _check(env, f"{where}.load_balancer.allowed_cidrs", rules.cidr_problem(cidr))
    if s.database_port is not None:
        _check(env, f"{where}.database_port", rules.port_problem(s.database_port))


def _check_alarms(env: str, where: str, s: ServiceSpec) -> None:
    a = s.alarms
    for name, low, high in (
        ("missing_tasks_minutes", 1, 60),
        ("max_5xx_percent", 0.1, 100),
        ("max_p99_latency_seconds", 0.001, 600),
        ("min_requests_per_minute", 1, rules.MAX_MIN_REQUESTS_PER_MINUTE),
        ("max_queue_age_seconds", 60, rules.MAX_SQS_RETENTION_SECONDS),
    ):
        _check(env, f"{where}.alarms.{name}", rules.between_problem(getattr(a, name), low, high))


def _check_deployment(env: str, where: str, d: DeploymentSpec, load_balanced: bool) -> None:
    _check(env, f"{where}.strategy", rules.traffic_shift_problem(d.strategy.value, load_balanced))
    if not d.shifts_traffic:
        _check_rolling(env, where, d)
        return
    _check_shift_steps(env, where, d)
    if d.test_listener is not None:
        _check_test_listener(env, where, d.test_listener)
    for i, hook in enumerate(d.lifecycle_hooks):
        _check(
            env,
            f"{where}.lifecycle_hooks[{i}].function_arn",
            rules.lambda_arn_problem(hook.function_arn),
        )
        _check(
            env, f"{where}.lifecycle_hooks[{i}].stages", rules.lifecycle_stages_problem(hook.stages)
        )


def _check_rolling(env: str, where: str, d: DeploymentSpec) -> None:
    """A rolling deployment sets none of the traffic-shifting fields."""
    for name in ("bake_minutes", "canary", "linear", "test_listener"):
        if getattr(d, name) is not None:
            raise _fail(
                env,
                f"{where}.{name}",
                "only for traffic-shifting strategies (BLUE_GREEN, CANARY, LINEAR), not ROLLING",
            )
    if d.lifecycle_hooks:
        raise _fail(
            env,
            f"{where}.lifecycle_hooks",
            "only for traffic-shifting strategies (BLUE_GREEN, CANARY, LINEAR)",
        )


def _check_shift_steps(env: str, where: str, d: DeploymentSpec) -> None:
    """Bake time, and canary or linear steps only with their own strategy."""
    if d.bake_minutes is not None:
        _check(env, f"{where}.bake_minutes", rules.bake_minutes_problem(d.bake_minutes))
    for name, strategy in (("canary", Rollout.CANARY), ("linear", Rollout.LINEAR)):
        if getattr(d, name) is not None and d.strategy is not strategy:
            raise _fail(
                env,
                f"{where}.{name}",
                f"only with strategy {strategy.value}, not {d.strategy.value}",
            )
    if d.canary is not None:
        _check(env, f"{where}.canary.percent", rules.shift_percent_problem(d.canary.percent, 0.1))
        _check(
            env, f"{where}.canary.bake_minutes", rules.bake_minutes_problem(d.canary.bake_minutes)
        )
    if d.linear is not None:
        _check(
            env,
            f"{where}.linear.step_percent",
            rules.shift_percent_problem(d.linear.step_percent, 3.0),
        )
        _check(
            env,
            f"{where}.linear.step_bake_minutes",
            rules.bake_minutes_problem(d.linear.step_bake_minutes),
        )


def _check_test_listener(env: str, where: str, listener: TestListener) -> None:
    """A free port, reachable only from the CIDRs named."""
    port = listener.port
    _check(env, f"{where}.test_listener.port", rules.port_problem(port))
    if port in rules.RESERVED_LISTENER_PORTS:
        raise _fail(
            env,
            f"{where}.test_listener.port",
            f"{port} is a production listener port; pick another",
        )
    if not listener.allowed_cidrs:
        raise _fail(
            env,
            f"{where}.test_listener.allowed_cidrs",
            "name who may reach the unreleased revision",
        )
    for cidr in listener.allowed_cidrs:
        _check(env, f"{where}.test_listener.allowed_cidrs", rules.cidr_problem(cidr))


def _check_architectures(env: EnvironmentSettings) -> None:
    """Every service runs where capacity of its CPU architecture exists."""
    plan = strategies(env.cluster)
    for spec in env.services:
        where = f"services[{spec.name}].architecture"
        if spec.architecture not in (None, "x86_64", "arm64"):
            raise _fail(env.name, where, f"{spec.architecture!r} must be x86_64 or arm64")
        arch = service_architecture(spec, env.cluster)
        if arch not in plan:
            raise _fail(
                env.name,
                where,
                f"no {arch} capacity in this env (cluster."
                f"instance_type is {env.cluster.instance_type}); "
                "add cluster.graviton for arm64 services",
            )


def _check_public_endpoint(env: EnvironmentSettings) -> None:
    """HTTPS and WAF need the ALB; a production env needs HTTPS or an explicit waiver."""
    name, s = env.name, env.services_settings
    has_alb = any(spec.load_balancer is not None for spec in env.services)
    for field_name in ("https", "waf"):
        if getattr(s, field_name) is not None and not has_alb:
            raise _fail(
                name,
                f"services_settings.{field_name}",
                "no service has a load_balancer: there is no ALB to put it on",
            )
    if s.https is not None:
        _check(name, "services_settings.https.domain", rules.domain_problem(s.https.domain))
        _check(
            name,
            "services_settings.https.hosted_zone_id",
            rules.hosted_zone_id_problem(s.https.hosted_zone_id),
        )
        if s.plain_http_waiver is not None:
            raise _fail(
                name, "services_settings.plain_http_waiver", "the env serves HTTPS; drop the waiver"
            )
    elif s.plain_http_waiver is not None and not s.plain_http_waiver.strip():
        raise _fail(name, "services_settings.plain_http_waiver", "give the reason")
    elif env.production and has_alb and s.plain_http_waiver is None:
        raise _fail(
            name,
            "services_settings.https",
            "a production env serves HTTPS: set https (domain and hosted zone) or a "
            "plain_http_waiver saying why not",
        )
    if s.waf is not None:
        _check(
            name,
            "services_settings.waf.rate_limit",
            rules.between_problem(s.waf.rate_limit, *rules.WAF_RATE_LIMIT),
        )


def _check_log_export(env: EnvironmentSettings) -> None:
    """The OpenSearch destination is valid, and exported to exactly when a service asks."""
    export = env.services_settings.log_export
    if export is not None and (problem := log_export_problem(export, env.region)):
        raise _fail(env.name, f"services_settings.log_export.{problem[0]}", problem[1])
    exporting = [s.name for s in env.services if s.export_logs]
    if problem := exporting_services_problem(export, exporting):
        raise _fail(env.name, *problem)


def _check_off_hours(env: str, off: OffHours) -> None:
    for name in ("scale_in_at", "scale_out_at"):
        _check(
            env, f"services_settings.off_hours.{name}", rules.schedule_problem(getattr(off, name))
        )
    _check(env, "services_settings.off_hours.timezone", rules.timezone_problem(off.timezone))
    _check(
        env, "services_settings.off_hours.min_tasks", rules.between_problem(off.min_tasks, 0, 1000)
    )


def _check_services(env: str, services: tuple[ServiceSpec, ...]) -> None:
    if not services:
        raise _fail(env, "services", "declare at least one service")
    seen: set[str] = set()
    for i, spec in enumerate(services):
        _check_service(env, i, spec)
        if spec.name in seen:
            raise _fail(env, f"services[{spec.name}]", "declared twice")
        seen.add(spec.name)
    names = [s.name for s in services]
    test_ports = [
        s.deployment.test_listener.port for s in services if s.deployment.test_listener is not None
    ]
    for s in services:
        listener = s.deployment.test_listener
        if listener is not None and test_ports.count(listener.port) > 1:
            raise _fail(
                env,
                f"services[{s.name}].deployment.test_listener.port",
                f"{listener.port} is another service's test listener too; each service "
                "gets its own port",
            )
    for s in services:
        if not s.allow_from:
            continue
        where = f"services[{s.name}].allow_from"
        if s.container_port is None:
            raise _fail(env, where, "needs a container_port for callers to reach")
        if len(set(s.allow_from)) != len(s.allow_from):
            raise _fail(env, where, f"{list(s.allow_from)} names a caller twice")
        for caller in s.allow_from:
            if caller == s.name:
                raise _fail(
                    env, where, f"{caller!r} is the service itself; list only other services"
                )
            if caller not in names:
                raise _fail(
                    env,
                    where,
                    f"{caller!r} is not a service of this environment "
                    f"(declared: {', '.join(names)})",
                )


def _check_internal_callers(env: EnvironmentSettings) -> None:
    for spec in env.services:
        _check(
            env.name,
            f"services[{spec.name}].allow_from",
            rules.internal_callers_problem(
                spec.deployment.strategy.value,
                spec.allow_from,
                env.services_settings.service_connect,
            ),
        )


def validate(env: object) -> EnvironmentSettings:
    """Check one environment; raise SettingsError naming the first bad field."""
    if not isinstance(env, EnvironmentSettings):
        raise SettingsError(f"environment table entry {env!r} is not an EnvironmentSettings")
    raw_name: object = env.name  # not trusted yet: check_types below needs a name to report
    name = raw_name if isinstance(raw_name, str) else repr(raw_name)
    check_types(env, "", name)
    _check(name, "name", rules.env_name_problem(name))
    _check(name, "account_id", rules.account_problem(env.account_id))
    _check(name, "region", rules.region_problem(env.region))
    if env.deploy_role is not None:
        _check_deploy_role(env)
    _check_state(name, env.state)
    _check_network(name, env.network)
    _check(
        name,
        "availability_zones",
        rules.availability_zones_problem(env.availability_zones, env.region, env.network.az_count),
    )
    _check_cluster(name, env.cluster)
    _check(
        name,
        "services_settings.log_retention_days",
        rules.retention_problem(env.services_settings.log_retention_days),
    )
    if env.services_settings.config_agent_image is not None:
        _check(
            name,
            "services_settings.config_agent_image",
            rules.image_uri_problem(env.services_settings.config_agent_image),
        )
    _check(
        name,
        "services_settings.exec_audit_retention_days",
        rules.retention_problem(env.services_settings.exec_audit_retention_days),
    )
    _check(
        name,
        "services_settings.image_tag",
        rules.image_tag_problem(env.services_settings.image_tag),
    )
    if env.services_settings.off_hours is not None:
        _check_off_hours(name, env.services_settings.off_hours)
    _check_services(name, env.services)
    _check_public_endpoint(env)
    if env.services_settings.service_connect:
        for spec in env.services:
            if spec.service_discovery and spec.container_port is None:
                raise _fail(
                    name,
                    f"services[{spec.name}].service_discovery",
                    "a Service Connect server needs a container_port to serve",
                )
    _check_internal_callers(env)
    _check_architectures(env)
    _check_log_export(env)
    if problem := placement_problem(env):
        raise _fail(name, *problem)
    _check_pipeline(env)
    return env


def validate_table(table: Iterable[EnvironmentSettings]) -> tuple[EnvironmentSettings, ...]:
    """Every env of the table, valid and uniquely named (an invalid prod fails a dev synth)."""
    table = tuple(table)
    for env in table:
        validate(env)
    names = [e.name for e in table]
    if len(set(names)) != len(names):
        raise SettingsError(f"environment table names an environment twice: {names}")
    _check_account_settings(table)
    return table


def _check_account_settings(table: tuple[EnvironmentSettings, ...]) -> None:
    """At most one env per account and region manages the account-wide ECS default
    `awsvpcTrunking`: with two, destroying either turns it off for the other."""
    owner: dict[tuple[str, str], str] = {}
    for env in table:
        if not env.cluster.awsvpc_trunking:
            continue
        where = (env.account_id, env.region)
        if where in owner:
            raise _fail(
                env.name,
                "cluster.awsvpc_trunking",
                f"environment {owner[where]!r} already manages the account-wide ECS "
                f"setting awsvpcTrunking in {where[0]}/{where[1]} (destroying either "
                "env would turn it off for both): set awsvpc_trunking=False here",
            )
        owner[where] = env.name
