"""The environment table: every deployable environment, fully explicit, validated at synth.

Adding an environment is adding one `EnvironmentSettings` entry to `ENVIRONMENTS`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Mapping

from settings.services import WEB, WORKER, ScalingSpec, ServiceSpec

ENVS_VARIABLE = "ECS_ENVS"
"""Comma-separated environment names to synthesize; unset or empty means all."""

SUBNET_NEWBITS = 4
"""Each subnet is the VPC CIDR plus this many bits (/16 VPC -> /20 subnets)."""

MAX_AZS = 3
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
"""Values CloudWatch Logs accepts for retention_in_days."""


class SettingsError(ValueError):
    """An invalid environment setting; the message names the environment and field."""


class NatMode(str, Enum):
    """How private subnets reach the internet."""

    SINGLE = "single"
    """One NAT gateway shared by every AZ: cheap, not AZ-fault-tolerant (dev)."""
    PER_AZ = "per_az"
    """One NAT gateway per AZ: no cross-AZ dependency (prod)."""


class FlowLogDestination(str, Enum):
    """Where VPC flow logs go."""

    CLOUDWATCH = "cloud-watch-logs"
    S3 = "s3"


class DeploymentStrategy(str, Enum):
    """AppConfig deployment strategy used for this environment's configuration."""

    ALL_AT_ONCE = "all_at_once"
    LINEAR = "linear"


@dataclass(frozen=True)
class S3State:
    """Remote state in S3 with S3-native locking (`use_lockfile`)."""

    bucket: str
    region: str
    key_prefix: str = "ecs-cdktf"


@dataclass(frozen=True)
class TerraformCloudState:
    """Remote state and runs in Terraform Cloud: one workspace per env and stack."""

    organization: str
    hostname: str = "app.terraform.io"
    workspace_prefix: str = "ecs-cdktf"


@dataclass(frozen=True)
class NetworkSettings:
    """VPC layout."""

    vpc_cidr: str
    az_count: int = 2
    nat_mode: NatMode = NatMode.SINGLE
    flow_log_destination: FlowLogDestination = FlowLogDestination.CLOUDWATCH
    flow_log_retention_days: int = 30
    vpc_endpoints: bool = False
    """Interface endpoints (ssm, ssmmessages, ec2messages, ecr.api, ecr.dkr, logs) + S3 gateway."""


@dataclass(frozen=True)
class ClusterSettings:
    """EC2 capacity for the ECS cluster."""

    instance_type: str = "t3.medium"
    asg_min: int = 1
    asg_max: int = 3
    asg_desired: int = 1
    root_volume_gb: int = 30
    target_capacity_percent: int = 100
    """Managed scaling keeps instance utilisation at this percentage."""
    min_scaling_step: int = 1
    max_scaling_step: int = 2
    capacity_provider_base: int = 0
    capacity_provider_weight: int = 1


@dataclass(frozen=True)
class ServicesSettings:
    """Environment-wide settings for the services stack."""

    log_retention_days: int = 30
    ecs_exec_enabled: bool = False
    """ECS exec into containers; off by default, SSM Session Manager reaches hosts anyway."""
    alb_access_logs: bool = False
    alb_deletion_protection: bool = False
    """Deletion protection on the shared ALB (on in prod: a deleted ALB gets a new DNS name)."""
    image_tag: str = "0.1.0"
    """Tag of the images this env builds and pushes to its own ECR repositories: the config-agent
    sidecar and any service declared with `build_context`. Tags are immutable; bump to release."""
    config_agent_image: str | None = None
    """Full config-agent image URI; None means `<env ECR>/config-agent:<image_tag>`."""
    awsvpc_trunking: bool = True
    """Account default `awsvpcTrunking`: more task ENIs per EC2 instance with awsvpc tasks."""


@dataclass(frozen=True)
class PipelineSettings:
    """Environment-wide settings for the config pipeline stack."""

    deployment_strategy: DeploymentStrategy = DeploymentStrategy.ALL_AT_ONCE
    deployment_minutes: int = 0
    bake_minutes: int = 0
    secret_recovery_days: int = 7
    trail_multi_region: bool = False
    dlq_max_receive_count: int = 5
    """Receives before an agent's queue moves a config event to the service's DLQ."""
    appconfig_alarm_arns: tuple[str, ...] = ()
    """CloudWatch alarms whose ALARM state makes AppConfig roll a deployment back."""
    alarm_topic_arn: str | None = None
    """SNS topic (in the env's region) the config-event DLQ alarms notify on ALARM and OK;
    None: the alarms still change state (console, `describe-alarms`) but notify no one."""


@dataclass(frozen=True)
class EnvironmentSettings:
    """One environment: where it lives, how big it is, and what runs in it."""

    name: str
    account_id: str
    region: str
    state: S3State | TerraformCloudState
    network: NetworkSettings
    cluster: ClusterSettings = ClusterSettings()
    services_settings: ServicesSettings = ServicesSettings()
    pipeline: PipelineSettings = PipelineSettings()
    services: tuple[ServiceSpec, ...] = (WEB.with_(allow_from=(WORKER.name,)), WORKER)
    """Default: web behind the ALB, a queue worker that may also call web directly."""
    az_letters: str = "abc"
    """AZ suffixes used, in order; `network.az_count` of them."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def availability_zones(self) -> tuple[str, ...]:
        """The AZ names the network spans, e.g. ("us-west-2a", "us-west-2b")."""
        return tuple(f"{self.region}{letter}" for letter in self.az_letters[:self.network.az_count])

    @property
    def default_tags(self) -> dict[str, str]:
        """Tags applied to every taggable resource via the provider."""
        return {"Environment": self.name, "ManagedBy": "cdktf", "Project": "ecs-cdktf",
                **self.tags}

    def service(self, name: str) -> ServiceSpec:
        """The spec of one declared service."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(f"environment {self.name!r} declares no service {name!r}")


ENVIRONMENTS: tuple[EnvironmentSettings, ...] = (
    EnvironmentSettings(
        name="dev",
        account_id="111111111111",
        region="us-west-2",
        state=S3State(bucket="ecs-cdktf-state-111111111111", region="us-west-2"),
        network=NetworkSettings(vpc_cidr="10.10.0.0/16", az_count=2, nat_mode=NatMode.SINGLE,
                                flow_log_retention_days=7),
        cluster=ClusterSettings(instance_type="t3.medium", asg_min=1, asg_max=3, asg_desired=1),
        services_settings=ServicesSettings(log_retention_days=7, ecs_exec_enabled=True),
        pipeline=PipelineSettings(secret_recovery_days=7, dlq_max_receive_count=3),
        services=(WEB.with_(desired_count=1, scaling=ScalingSpec(min_tasks=1, max_tasks=2),
                            allow_from=(WORKER.name,)),
                  WORKER),
        tags={"CostCenter": "platform-dev"},
    ),
    EnvironmentSettings(
        name="staging",
        account_id="333333333333",
        region="us-east-2",
        state=S3State(bucket="ecs-cdktf-state-333333333333", region="us-east-2"),
        network=NetworkSettings(vpc_cidr="10.20.0.0/16", az_count=2, nat_mode=NatMode.SINGLE,
                                flow_log_retention_days=30, vpc_endpoints=True),
        cluster=ClusterSettings(instance_type="t3.large", asg_min=2, asg_max=4, asg_desired=2),
        services_settings=ServicesSettings(log_retention_days=30),
        pipeline=PipelineSettings(deployment_strategy=DeploymentStrategy.LINEAR,
                                  deployment_minutes=4, bake_minutes=2, secret_recovery_days=7),
        tags={"CostCenter": "platform-staging"},
    ),
    EnvironmentSettings(
        name="prod",
        account_id="222222222222",
        region="us-east-1",
        state=S3State(bucket="ecs-cdktf-state-222222222222", region="us-east-1"),
        network=NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=3, nat_mode=NatMode.PER_AZ,
                                flow_log_retention_days=365, vpc_endpoints=True),
        cluster=ClusterSettings(instance_type="m6i.large", asg_min=3, asg_max=12, asg_desired=3,
                                root_volume_gb=50, target_capacity_percent=90,
                                max_scaling_step=4, capacity_provider_base=2),
        services_settings=ServicesSettings(log_retention_days=90, alb_access_logs=True,
                                           alb_deletion_protection=True),
        pipeline=PipelineSettings(deployment_strategy=DeploymentStrategy.LINEAR,
                                  deployment_minutes=10, bake_minutes=10,
                                  secret_recovery_days=30, trail_multi_region=True),
        services=(WEB.with_(desired_count=3, scaling=ScalingSpec(min_tasks=3, max_tasks=12),
                            allow_from=(WORKER.name,)),
                  WORKER.with_(desired_count=2,
                               scaling=ScalingSpec(min_tasks=2, max_tasks=20,
                                                   queue_scaling=True))),
        tags={"CostCenter": "platform-prod"},
    ),
)


# --- validation --------------------------------------------------------------------------

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Fargate-compatible CPU/memory pairs are not required on EC2, but keep values sane.
_MIN_MEMORY_MB = 128


def _alarm_topic(region: str) -> re.Pattern[str]:
    return re.compile(rf"^arn:aws[a-z-]*:sns:{re.escape(region)}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}$")


def _fail(env: str, field_path: str, problem: str) -> SettingsError:
    return SettingsError(f"environment {env!r}: {field_path}: {problem}")


def _check_network(env: str, net: NetworkSettings) -> None:
    try:
        vpc = ipaddress.ip_network(net.vpc_cidr)
    except ValueError as exc:
        raise _fail(env, "network.vpc_cidr",
                    f"{net.vpc_cidr!r} is not a CIDR block ({exc})") from None
    if vpc.version != 4 or not 16 <= vpc.prefixlen <= 24:
        raise _fail(env, "network.vpc_cidr",
                    f"{net.vpc_cidr!r} must be an IPv4 block between /16 and /24")
    if not vpc.is_private:
        raise _fail(env, "network.vpc_cidr", f"{net.vpc_cidr!r} is not a private (RFC 1918) range")
    if not 2 <= net.az_count <= MAX_AZS:
        raise _fail(env, "network.az_count", f"{net.az_count} must be between 2 and {MAX_AZS}")
    if not isinstance(net.nat_mode, NatMode):
        raise _fail(env, "network.nat_mode", f"{net.nat_mode!r} must be a NatMode")
    if not isinstance(net.flow_log_destination, FlowLogDestination):
        raise _fail(env, "network.flow_log_destination",
                    f"{net.flow_log_destination!r} must be a FlowLogDestination")
    if net.flow_log_retention_days not in RETENTION_DAYS:
        raise _fail(env, "network.flow_log_retention_days",
                    f"{net.flow_log_retention_days} is not a CloudWatch retention value")


def _check_cluster(env: str, c: ClusterSettings) -> None:
    if c.asg_min < 0:
        raise _fail(env, "cluster.asg_min", f"{c.asg_min} must be >= 0")
    if c.asg_min > c.asg_max:
        raise _fail(env, "cluster.asg_min", f"min {c.asg_min} > max {c.asg_max}")
    if not c.asg_min <= c.asg_desired <= c.asg_max:
        raise _fail(env, "cluster.asg_desired",
                    f"desired {c.asg_desired} outside [min {c.asg_min}, max {c.asg_max}]")
    if not 1 <= c.target_capacity_percent <= 100:
        raise _fail(env, "cluster.target_capacity_percent",
                    f"{c.target_capacity_percent} must be between 1 and 100")
    if not 1 <= c.min_scaling_step <= c.max_scaling_step <= 10000:
        raise _fail(env, "cluster.min_scaling_step",
                    f"steps must satisfy 1 <= min ({c.min_scaling_step}) <= max "
                    f"({c.max_scaling_step}) <= 10000")
    if c.root_volume_gb < 30:
        raise _fail(env, "cluster.root_volume_gb",
                    f"{c.root_volume_gb} GiB is below the ECS-optimized AMI's 30 GiB snapshot")
    if not re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", c.instance_type):
        raise _fail(env, "cluster.instance_type", f"{c.instance_type!r} is not an instance type")


def _check_service(env: str, i: int, s: ServiceSpec) -> None:
    where = f"services[{i}]"
    if not _SERVICE_NAME.match(s.name):
        raise _fail(env, f"{where}.name", f"{s.name!r} must be 1-20 chars of [a-z0-9-]")
    where = f"services[{s.name}]"
    if (s.image is None) == (s.build_context is None):
        raise _fail(env, f"{where}.image", "set exactly one of image and build_context")
    if s.cpu < 128 or s.memory < _MIN_MEMORY_MB:
        raise _fail(env, f"{where}.cpu", f"cpu {s.cpu} / memory {s.memory} too small")
    sc = s.scaling
    if not 0 <= sc.min_tasks <= sc.max_tasks:
        raise _fail(env, f"{where}.scaling.min_tasks",
                    f"min {sc.min_tasks} must be in [0, max {sc.max_tasks}]")
    if not sc.min_tasks <= s.desired_count <= sc.max_tasks:
        raise _fail(env, f"{where}.desired_count",
                    f"{s.desired_count} outside [min {sc.min_tasks}, max {sc.max_tasks}]")
    for target in ("cpu_target_percent", "memory_target_percent"):
        if not 1 <= getattr(sc, target) <= 100:
            raise _fail(env, f"{where}.scaling.{target}", "must be between 1 and 100")
    if sc.queue_scaling and not s.work_queue:
        raise _fail(env, f"{where}.scaling.queue_scaling", "needs work_queue=True")
    if sc.queue_scaling and sc.queue_scale_in_messages >= sc.queue_scale_out_messages:
        raise _fail(env, f"{where}.scaling.queue_scale_in_messages",
                    "must be below queue_scale_out_messages")
    if s.load_balancer is not None and s.container_port is None:
        raise _fail(env, f"{where}.load_balancer", "needs a container_port")
    if s.container_port is not None and not 1 <= s.container_port <= 65535:
        raise _fail(env, f"{where}.container_port", f"{s.container_port} is not a port")
    if s.load_balancer is not None:
        for cidr in s.load_balancer.allowed_cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise _fail(env, f"{where}.load_balancer.allowed_cidrs",
                            f"{cidr!r} is not a CIDR") from None
    if s.config_files_path is not None and not re.match(r"^/[A-Za-z0-9._/-]+$",
                                                         s.config_files_path):
        raise _fail(env, f"{where}.config_files_path",
                    f"{s.config_files_path!r} must be an absolute path")
    if s.config_profile is not None and (problem := s.config_profile.problem()):
        raise _fail(env, f"{where}.config_profile.{problem[0]}", problem[1])
    for secret in s.secrets:
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", secret):
            raise _fail(env, f"{where}.secrets", f"{secret!r} must be [a-z0-9_-]")


def validate(env: EnvironmentSettings) -> EnvironmentSettings:
    """Check one environment; raise SettingsError naming the first bad field."""
    name = env.name
    if not _ENV_NAME.match(name):
        raise _fail(name, "name", "must be 2-16 chars of [a-z0-9], starting with a letter")
    if not _ACCOUNT.match(env.account_id):
        raise _fail(name, "account_id", f"{env.account_id!r} must be exactly 12 digits")
    if not _REGION.match(env.region):
        raise _fail(name, "region", f"{env.region!r} is not an AWS region name")
    if isinstance(env.state, S3State):
        if not _BUCKET.match(env.state.bucket):
            raise _fail(name, "state.bucket", f"{env.state.bucket!r} is not an S3 bucket name")
        if not _REGION.match(env.state.region):
            raise _fail(name, "state.region", f"{env.state.region!r} is not an AWS region name")
    elif isinstance(env.state, TerraformCloudState):
        if not env.state.organization:
            raise _fail(name, "state.organization", "must not be empty")
    else:
        raise _fail(name, "state", "must be S3State or TerraformCloudState")
    _check_network(name, env.network)
    if len(env.az_letters) < env.network.az_count:
        raise _fail(name, "az_letters",
                    f"{env.az_letters!r} names fewer AZs than az_count {env.network.az_count}")
    _check_cluster(name, env.cluster)
    if env.services_settings.log_retention_days not in RETENTION_DAYS:
        raise _fail(name, "services_settings.log_retention_days",
                    f"{env.services_settings.log_retention_days} is not a CloudWatch retention value")
    if not 7 <= env.pipeline.secret_recovery_days <= 30:
        raise _fail(name, "pipeline.secret_recovery_days", "must be between 7 and 30")
    if not 1 <= env.pipeline.dlq_max_receive_count <= 1000:
        raise _fail(name, "pipeline.dlq_max_receive_count", "must be between 1 and 1000")
    alarm_topic = env.pipeline.alarm_topic_arn
    if alarm_topic is not None and not _alarm_topic(env.region).match(alarm_topic):
        raise _fail(name, "pipeline.alarm_topic_arn",
                    f"{alarm_topic!r} must be an SNS topic ARN in {env.region} (CloudWatch "
                    "alarms notify topics in their own region only)")
    if not env.services:
        raise _fail(name, "services", "declare at least one service")
    seen: set[str] = set()
    for i, spec in enumerate(env.services):
        _check_service(name, i, spec)
        if spec.name in seen:
            raise _fail(name, f"services[{spec.name}]", "declared twice")
        seen.add(spec.name)
    _check_allow_from(name, env.services)
    return env


def _check_allow_from(env: str, services: tuple[ServiceSpec, ...]) -> None:
    """Each declared caller is another service of this env; the callee has a port to reach."""
    names = [s.name for s in services]
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
                raise _fail(env, where, f"{caller!r} is the service itself; list only "
                                        "other services")
            if caller not in names:
                raise _fail(env, where, f"{caller!r} is not a service of this environment "
                                        f"(declared: {', '.join(names)})")


def select(names: Iterable[str] | str | None = None,
           table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS) -> list[EnvironmentSettings]:
    """Validated environments to synthesize, all by default, else those named (in table order).

    `names` may be a comma-separated string (as in `ECS_ENVS=dev,prod`).
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    wanted = [n for n in (names or []) if n]
    known = [e.name for e in table]
    if len(set(known)) != len(known):
        raise SettingsError(f"environment table names an environment twice: {known}")
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise SettingsError(f"unknown environment(s) {', '.join(unknown)} selected; "
                            f"known: {', '.join(known)}")
    chosen = [e for e in table if not wanted or e.name in wanted]
    return [validate(e) for e in chosen]


def select_from_environment() -> list[EnvironmentSettings]:
    """Environments named by the ECS_ENVS variable (all when unset)."""
    return select(os.environ.get(ENVS_VARIABLE))
