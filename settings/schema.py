"""The schema of the environment table: typed, frozen dataclasses with documented defaults.

Values live in `settings/environments.py` (the table); the rules they must satisfy live in
`settings/rules.py` and are applied by `settings/validation.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from settings.log_export import OpenSearchLogExport
from settings.services import ServiceSpec

SUBNET_NEWBITS = 4
"""Each subnet is the VPC CIDR plus this many bits (/16 VPC -> /20 subnets)."""


class NatMode(StrEnum):
    """How private subnets reach the internet."""

    SINGLE = "single"
    """One NAT gateway shared by every AZ: cheap, not AZ-fault-tolerant (dev)."""
    PER_AZ = "per_az"
    """One NAT gateway per AZ: no cross-AZ dependency (prod)."""


class FlowLogDestination(StrEnum):
    """Where VPC flow logs go."""

    CLOUDWATCH = "cloud-watch-logs"
    S3 = "s3"


class DeploymentStrategy(StrEnum):
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
class DeployRole:
    """A role in the env's account that Terraform assumes for the AWS provider, the S3 state
    backend and every remote-state read, so one pipeline (e.g. from a CI account) can deploy
    every env with its own credentials; the role's trust policy must admit that pipeline."""

    role_arn: str
    external_id: str | None = None
    """Sent with AssumeRole when the role's trust policy requires `sts:ExternalId`."""
    session_name: str = "ecs-cdktf"


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
class SpotCapacity:
    """A second Auto Scaling group, all Spot across several instance types (the primary's CPU
    architecture), behind its own capacity provider. Services place tasks beyond the
    on-demand `capacity_provider_base` over both groups by weight."""

    instance_types: tuple[str, ...]
    """Several similar types (e.g. m6i, m6a, m5 of one size): Spot picks the deepest pools."""
    min_size: int = 0
    max_size: int = 4
    weight: int = 1
    """Tasks on Spot for every `capacity_provider_weight` tasks on on-demand, above the base."""


@dataclass(frozen=True)
class GravitonCapacity:
    """An on-demand Auto Scaling group of arm64 (AWS Graviton) instances with the arm64 ECS AMI,
    behind its own capacity provider: services declared `architecture="arm64"` run there only."""

    instance_type: str = "m7g.large"
    min_size: int = 0
    max_size: int = 4


@dataclass(frozen=True)
class ClusterSettings:
    """EC2 capacity for the ECS cluster: an on-demand group, optionally Spot and Graviton."""

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
    """Tasks of each service that always run on the on-demand group (ECS strategy `base`)."""
    capacity_provider_weight: int = 1
    """Relative share of the on-demand group for tasks above the base (ECS strategy `weight`)."""
    spot: SpotCapacity | None = None
    graviton: GravitonCapacity | None = None
    awsvpc_trunking: bool = True
    """Manage the account-wide ECS default `awsvpcTrunking` in this env (set before the ASG
    launches instances: it applies only to instances registered after it): more task ENIs per
    instance on the types that support trunking (ECS Developer Guide, "Increasing Linux
    container instance network interfaces"). One env per account and region may manage it
    (settings refuse two: destroying one would turn it off for the other); the capacity rule
    counts trunked task ENIs only in the env that manages it."""


@dataclass(frozen=True)
class OffHours:
    """Outside working hours every service's minimum drops to `min_tasks` (its maximum stays);
    at the start of working hours it returns to the service's own minimum. Schedules are
    Application Auto Scaling `cron(...)` expressions in `timezone` (an IANA name)."""

    scale_in_at: str = "cron(0 20 ? * MON-FRI *)"
    scale_out_at: str = "cron(0 7 ? * MON-FRI *)"
    timezone: str = "UTC"
    min_tasks: int = 0
    """Queue-scaled workers keep at least 1: backlog per task needs a running task."""


@dataclass(frozen=True)
class HttpsSettings:
    """Serve the env's ALB over HTTPS at `domain`: an ACM certificate validated through DNS in
    the hosted zone, a TLS 1.3/1.2 listener, HTTP redirected to HTTPS, and an alias record."""

    domain: str
    """The public name, e.g. `app.example.com` (lowercase)."""
    hosted_zone_id: str
    """The Route 53 public hosted zone holding `domain` (not managed here): validation records
    and the alias record go there."""


@dataclass(frozen=True)
class WafSettings:
    """A WAFv2 web ACL on the ALB: AWS managed rule groups (Amazon IP reputation list, core
    rule set, known bad inputs) and a per-IP rate limit; requests are logged with the
    Authorization and Cookie headers redacted."""

    rate_limit: int = 2000
    """Requests one IP may send in any 5 minutes before WAF blocks it (100-2,000,000,000)."""
    block_anonymous_ips: bool = False
    """Also block VPNs, Tor exit nodes and hosting providers (AWS managed anonymous IP list):
    off by default, it turns away corporate VPN users and server-side callers."""


@dataclass(frozen=True)
class ServicesSettings:
    """Environment-wide settings for the services stack."""

    log_retention_days: int = 30
    ecs_exec_enabled: bool = False
    """ECS exec into containers; off by default, SSM Session Manager reaches hosts anyway.
    When on, every session is encrypted with a KMS key of its own and logged (cluster stack)."""
    exec_audit_retention_days: int = 365
    """Retention of the ECS Exec session log (an audit trail: a year by default)."""
    alb_access_logs: bool = False
    alb_deletion_protection: bool = False
    """Deletion protection on the shared ALB (on in prod: a deleted ALB gets a new DNS name)."""
    image_tag: str = "0.1.0"
    """First tag of the images this env builds and pushes to its own ECR repositories (registry
    stack): the config-agent sidecar and every service declared with a `dockerfile`. Later
    releases do not change it: `scripts/images.py <env> --tag T --release` pushes tag T and
    writes it to each image's SSM release parameter, which the services stack reads (see
    `settings/images.py`, `ImageBuild.tag_parameter`)."""
    config_agent_image: str | None = None
    """Full config-agent image URI; None means `<env ECR>/config-agent:<image_tag>`."""
    off_hours: OffHours | None = None
    """Scheduled scaling: a lower task minimum outside working hours (dev, staging)."""
    https: HttpsSettings | None = None
    """HTTPS at a domain of the env's own; None: plain HTTP (refused in production envs unless
    `plain_http_waiver` says why)."""
    plain_http_waiver: str | None = None
    """Why a production env serves plain HTTP (e.g. TLS ends at a CDN in front): the explicit
    waiver the settings require instead of `https`."""
    waf: WafSettings | None = None
    """A WAFv2 web ACL on the ALB; None: none."""
    service_connect: bool = False
    """ECS Service Connect instead of Cloud Map DNS records: an HTTP namespace `<env>.internal`,
    every service a client, each `service_discovery` service a server at
    `<name>.<env>.internal:<container port>` (same address as the DNS records), the proxy
    balancing, retrying and logging calls (ECS Developer Guide, "Service Connect")."""
    log_export: OpenSearchLogExport | None = None
    """Export the app container logs of services with `export_logs` to OpenSearch through
    Amazon Data Firehose (FireLens); None: every log stays in CloudWatch only."""


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
    """SNS topic (in the env's region) the config-event DLQ alarms and every service's
    deployment alarms notify on ALARM and OK; None: the alarms still change state (console,
    `describe-alarms`, deployment rollback) but notify no one."""
    # Fan-out safety net (issue 27).
    agent_safety_refresh_seconds: int = 900
    """Every config agent refetches everything this often even without events: the last line
    of defence if a change never reaches its queue; 0 turns it off."""
    orphan_sweep_minutes: int = 10
    """How often the reaper sweeps for agent queues of stopped tasks (it also runs on every
    ECS task STOPPED event of the cluster)."""
    orphan_grace_seconds: int = 600
    """The reaper keeps a queue younger than this, and one whose task ECS has not known
    (MISSING) for less than this: ECS reads are eventually consistent."""


@dataclass(frozen=True)
class EnvironmentSettings:
    """One environment: where it lives, how big it is, and what runs in it."""

    name: str
    account_id: str
    region: str
    state: S3State | TerraformCloudState
    network: NetworkSettings
    services: tuple[ServiceSpec, ...]
    """What runs in it: at least one service (the shipped table runs the samples `web` and
    `worker`, settings/services.py)."""
    cluster: ClusterSettings = ClusterSettings()
    services_settings: ServicesSettings = ServicesSettings()
    pipeline: PipelineSettings = PipelineSettings()
    availability_zones: tuple[str, ...] = ()
    """The AZ names the network spans, `network.az_count` of them, e.g. ("us-west-2a",
    "us-west-2b"): required. Which AZs an account has (and the letters map to different zones
    in each account) only AWS knows (`aws ec2 describe-availability-zones`): the network stack
    checks at plan that each is available, with an error naming this setting."""
    tags: Mapping[str, str] = field(default_factory=dict)
    production: bool = False
    """Serves real users: its ALB must serve HTTPS (`services_settings.https`) unless
    `services_settings.plain_http_waiver` says why not."""
    deploy_role: DeployRole | None = None
    """Assumed by the provider, the S3 backend and remote-state reads; None uses the shell's
    credentials. Not used with Terraform Cloud, whose runs use the workspace's credentials."""

    @property
    def default_tags(self) -> dict[str, str]:
        """Tags applied to every taggable resource via the provider."""
        return {"Environment": self.name, "ManagedBy": "cdktf", "Project": "ecs-cdktf", **self.tags}

    def service(self, name: str) -> ServiceSpec:
        """The spec of one declared service."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(f"environment {self.name!r} declares no service {name!r}")
