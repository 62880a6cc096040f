"""Rules about AWS values, each written once.

`settings.validation` applies them to the env table before synth (one message naming the env
and field); a construct asserts its own invariants by calling the same function. A rule returns
the reason a value is wrong (a short phrase, safe to show), or None when it is fine. Where a
limit comes from AWS, the comment names the document.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping

from settings import aws_catalog
from settings.naming import AGENT_TOKEN_SECRET

# --- names ------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SQS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_SNS_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_ALB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
_SECRET_SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ABSOLUTE_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")
_ARN_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


def env_name_problem(name: str) -> str | None:
    if not _ENV_NAME.match(name):
        return f"{name!r} must be 2-16 chars of [a-z0-9], starting with a letter"
    return None


def service_name_problem(name: str) -> str | None:
    if not _SERVICE_NAME.match(name):
        return f"{name!r} must be 1-20 chars of [a-z0-9-], starting with a letter"
    return None


def account_problem(account_id: str) -> str | None:
    return None if _ACCOUNT.match(account_id) else f"{account_id!r} must be exactly 12 digits"


def _did_you_mean(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=3, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def region_problem(region: str) -> str | None:
    """A region of the partitions the pinned botocore's endpoints.json lists."""
    if region in aws_catalog.regions():
        return None
    return (
        f"{region!r} is not an AWS region{_did_you_mean(region, aws_catalog.regions())}; "
        f"known: botocore's endpoints.json, partitions {', '.join(aws_catalog.PARTITIONS)}"
    )


def availability_zones_problem(zones: tuple[str, ...], region: str, count: int) -> str | None:
    """Exactly `count` distinct AZ names of `region` (`<region><letter>`). Which of them the
    account has only AWS knows: the network stack checks that at plan."""
    if len(zones) != count:
        return (
            f"name {count} AZs of {region} (network.az_count), e.g. "
            f"{tuple(f'{region}{letter}' for letter in 'abc'[:count])}; see `aws ec2 "
            f"describe-availability-zones --region {region}`; got {zones}"
        )
    for zone in zones:
        if not re.fullmatch(rf"{re.escape(region)}[a-z]", zone):
            return f"{zone!r} is not an AZ name of {region} ({region}a, {region}b, ...)"
    if len(set(zones)) != len(zones):
        return f"{list(zones)} names an AZ twice"
    return None


def bucket_name_problem(bucket: str) -> str | None:
    return None if _BUCKET.match(bucket) else f"{bucket!r} is not an S3 bucket name"


def sqs_queue_name_problem(name: str) -> str | None:
    """SQS: 1-80 characters of A-Z a-z 0-9 _ - (standard queues; SQS Developer Guide quotas)."""
    return None if _SQS_NAME.match(name) else f"queue name {name!r} must be 1-80 of A-Za-z0-9_-"


def sns_topic_name_problem(name: str) -> str | None:
    """SNS: 1-256 characters of A-Z a-z 0-9 _ - (standard topics)."""
    return None if _SNS_TOPIC.match(name) else f"topic name {name!r} must be 1-256 of A-Za-z0-9_-"


def alb_name_problem(name: str) -> str | None:
    """ELB: at most 32 alphanumerics or hyphens, not starting or ending with a hyphen, and not
    starting with `internal-` (ELB API reference, CreateLoadBalancer Name)."""
    if not _ALB_NAME.match(name) or name.startswith("internal-"):
        return f"load balancer name {name!r} must be 1-32 of A-Za-z0-9-, no hyphen at the ends"
    return None


_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*[a-z0-9]$", re.IGNORECASE)


def image_uri_problem(uri: str) -> str | None:
    """A container image reference: `[registry/]repository[:tag|@digest]`, no whitespace."""
    if not 3 <= len(uri) <= 255 or not _IMAGE.match(uri):
        return f"{uri!r} is not a container image reference ([registry/]repository[:tag])"
    return None


def secret_short_name_problem(name: str) -> str | None:
    return None if _SECRET_SHORT_NAME.match(name) else f"{name!r} must be [a-z0-9_-]"


def secret_names_problem(names: tuple[str, ...]) -> str | None:
    """A service's secret short names: valid, distinct, and not the agent token's."""
    for name in names:
        if problem := secret_short_name_problem(name):
            return problem
    if AGENT_TOKEN_SECRET in names:
        return f"{AGENT_TOKEN_SECRET!r} is reserved for the config agent's token"
    if len(set(names)) != len(names):
        return f"{list(names)} names a secret twice"
    return None


_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_tag_problem(tag: str) -> str | None:
    """A Docker image tag: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'
    (Docker reference grammar, `tag`; ECR accepts the same)."""
    return None if _IMAGE_TAG.match(tag) else f"{tag!r} is not an image tag (1-128 of A-Za-z0-9_.-)"


def absolute_path_problem(path: str) -> str | None:
    return None if _ABSOLUTE_PATH.match(path) else f"{path!r} must be an absolute path"


def role_arn_problem(arn: str) -> str | None:
    return None if _ARN_ROLE.match(arn) else f"{arn!r} is not an IAM role ARN"


def external_id_problem(external_id: str) -> str | None:
    """STS AssumeRole ExternalId: 2-1224 characters of [\\w+=,.@:/-]."""
    if not re.match(r"^[\w+=,.@:/-]{2,1224}$", external_id):
        return "must be 2-1224 characters of letters, digits and +=,.@:/-_"
    return None


def session_name_problem(name: str) -> str | None:
    """STS AssumeRole RoleSessionName: 2-64 characters of [\\w+=,.@-]."""
    if not re.match(r"^[\w+=,.@-]{2,64}$", name):
        return f"{name!r} must be 2-64 characters of letters, digits and +=,.@-_"
    return None


def sns_topic_arn_problem(arn: str, region: str) -> str | None:
    pattern = rf"^arn:aws[a-z-]*:sns:{re.escape(region)}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}$"
    if not re.match(pattern, arn):
        return (
            f"{arn!r} must be an SNS topic ARN in {region} (CloudWatch alarms notify topics "
            "in their own region only)"
        )
    return None


# --- numbers ----------------------------------------------------------------------------------

RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""Values CloudWatch Logs accepts for retention_in_days (PutRetentionPolicy API reference)."""


def between_problem(value: int | float, low: int | float, high: int | float) -> str | None:
    return None if low <= value <= high else f"{value} must be between {low} and {high}"


def retention_problem(days: int) -> str | None:
    return None if days in RETENTION_DAYS else f"{days} is not a CloudWatch retention value"


def port_problem(port: int) -> str | None:
    return None if 1 <= port <= 65535 else f"{port} is not a port"


def max_receive_count_problem(count: int) -> str | None:
    """SQS redrive policy maxReceiveCount: 1-1000 (SQS Developer Guide, dead-letter queues)."""
    return between_problem(count, 1, 1000)


MAX_SQS_RETENTION_SECONDS = 1209600
"""SQS keeps a message at most 14 days (SQS Developer Guide, quotas): no message gets older."""


def visibility_timeout_problem(seconds: int) -> str | None:
    """SQS visibility timeout: 0-43200 s (12 hours)."""
    return between_problem(seconds, 0, 43200)


def secret_recovery_days_problem(days: int) -> str | None:
    """Secrets Manager DeleteSecret RecoveryWindowInDays: 7-30."""
    return between_problem(days, 7, 30)


def percent_problem(value: int) -> str | None:
    return between_problem(value, 1, 100)


# --- network ----------------------------------------------------------------------------------

MAX_AZS = 3


def vpc_cidr_problem(cidr: str) -> str | None:
    """A private IPv4 block between /16 (the largest a VPC takes) and /24."""
    try:
        vpc = ipaddress.ip_network(cidr)
    except ValueError as exc:
        return f"{cidr!r} is not a CIDR block ({exc})"
    if vpc.version != 4 or not 16 <= vpc.prefixlen <= 24:
        return f"{cidr!r} must be an IPv4 block between /16 and /24"
    if not vpc.is_private:
        return f"{cidr!r} is not a private (RFC 1918) range"
    return None


def cidr_problem(cidr: str) -> str | None:
    try:
        ipaddress.ip_network(cidr)
    except ValueError:
        return f"{cidr!r} is not a CIDR"
    return None


# --- EC2 capacity -----------------------------------------------------------------------------

_INSTANCE_TYPE = re.compile(
    r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<options>[a-z-]*)\."
    r"(?P<size>[a-z0-9]+)$"
)
MIN_ROOT_VOLUME_GB = 30
"""The ECS-optimized AL2023 AMI's root snapshot size: a smaller volume cannot be launched."""


def instance_type_problem(instance_type: str) -> str | None:
    """Why `instance_type` is not an EC2 instance type of the pinned botocore's EC2 model."""
    if not _INSTANCE_TYPE.match(instance_type):
        return f"{instance_type!r} is not an instance type (family, generation, options.size)"
    if instance_type not in aws_catalog.instance_types():
        hint = _did_you_mean(instance_type, aws_catalog.instance_types())
        return (
            f"{instance_type!r} is not an EC2 instance type{hint} (botocore's EC2 model "
            "InstanceType list)"
        )
    return None


def instance_architecture(instance_type: str) -> str:
    """`arm64` for AWS Graviton instance types, else `x86_64`.

    Graviton types carry a `g` among the options after the generation (t4g, m7g, c7gn, r8gd,
    im4gn, g5g), plus the first-generation a1 (EC2 User Guide, "Amazon EC2 instance type naming
    conventions": processor family `g` = AWS Graviton).
    """
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(instance_type_problem(instance_type))
    if match["family"] == "a" and match["generation"] == "1":
        return "arm64"
    return "arm64" if "g" in match["options"] else "x86_64"


def instance_types_problem(instance_types: tuple[str, ...]) -> str | None:
    """One Auto Scaling group's instance types: valid, distinct, one CPU architecture (its
    launch template has one AMI)."""
    if not instance_types:
        return "name at least one instance type"
    for instance_type in instance_types:
        if problem := instance_type_problem(instance_type):
            return problem
    if len(set(instance_types)) != len(instance_types):
        return f"{list(instance_types)} names a type twice"
    architectures = {instance_architecture(t) for t in instance_types}
    if len(architectures) > 1:
        mixed = ", ".join(sorted(architectures))
        return f"{list(instance_types)} mixes CPU architectures ({mixed}); one group, one AMI"
    return None


def asg_size_problem(minimum: int, maximum: int, desired: int) -> tuple[str, str] | None:
    """(field, reason) when min/max/desired of an Auto Scaling group do not nest."""
    if minimum < 0:
        return "asg_min", f"{minimum} must be >= 0"
    if minimum > maximum:
        return "asg_min", f"min {minimum} > max {maximum}"
    if not minimum <= desired <= maximum:
        return "asg_desired", f"desired {desired} outside [min {minimum}, max {maximum}]"
    return None


def scaling_step_problem(minimum: int, maximum: int) -> str | None:
    """Managed scaling step sizes: 1 <= min <= max <= 10000 (ECS ManagedScaling)."""
    if not 1 <= minimum <= maximum <= 10000:
        return f"steps must satisfy 1 <= min ({minimum}) <= max ({maximum}) <= 10000"
    return None


def capacity_strategy_problem(base: int, weight: int) -> tuple[str, str] | None:
    """(field, reason) for a capacity provider strategy item: base 0-100000, weight 0-1000
    (ECS API reference, CapacityProviderStrategyItem); a one-provider strategy needs a weight
    above 0, or no task beyond `base` could be placed."""
    if not 0 <= base <= 100000:
        return "capacity_provider_base", f"{base} must be between 0 and 100000"
    if not 1 <= weight <= 1000:
        return "capacity_provider_weight", (
            f"{weight} must be between 1 and 1000 (the only "
            "capacity provider needs a weight above 0)"
        )
    return None


# --- services ---------------------------------------------------------------------------------

MIN_TASK_CPU = 128
MIN_TASK_MEMORY_MB = 128


def task_size_problem(cpu: int, memory: int) -> str | None:
    if cpu < MIN_TASK_CPU or memory < MIN_TASK_MEMORY_MB:
        return (
            f"cpu {cpu} / memory {memory} too small (at least {MIN_TASK_CPU} units and "
            f"{MIN_TASK_MEMORY_MB} MiB)"
        )
    return None


def task_count_problem(minimum: int, maximum: int, desired: int) -> tuple[str, str] | None:
    """(field, reason) when a service's task bounds do not nest."""
    if not 0 <= minimum <= maximum:
        return "scaling.min_tasks", f"min {minimum} must be in [0, max {maximum}]"
    if not minimum <= desired <= maximum:
        return "desired_count", f"{desired} outside [min {minimum}, max {maximum}]"
    return None


def schedule_problem(expression: str) -> str | None:
    """An Application Auto Scaling `cron(minutes hours day-of-month month day-of-week year)`
    expression (Application Auto Scaling User Guide, "Scheduled scaling": six fields)."""
    match = re.fullmatch(r"cron\(([^()]+)\)", expression)
    if not match or len(match.group(1).split()) != 6:
        return f"{expression!r} must be cron(min hour day-of-month month day-of-week year)"
    return None


def timezone_problem(name: str) -> str | None:
    """An IANA time zone name, as scheduled actions take (e.g. Europe/Berlin, UTC)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not an IANA time zone name"
    return None


def config_profile_problem(
    json_schema: Mapping[str, object], content: object
) -> tuple[str, str] | None:
    """(field, reason) if a hosted profile's JSON schema is invalid or its content breaks it.

    AppConfig would only reject it when the first deployment runs, mid-apply.
    """
    import jsonschema  # only needed when a profile is checked

    try:
        jsonschema.validators.validator_for(json_schema).check_schema(dict(json_schema))
    except jsonschema.SchemaError as exc:
        return "json_schema", f"is not a valid JSON schema: {exc.message}"
    try:
        jsonschema.validate(content, json_schema)
    except jsonschema.ValidationError as exc:
        return "initial_content", f"does not match json_schema: {exc.message}"
    return None


# --- public endpoint --------------------------------------------------------------------------

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
WAF_RATE_LIMIT = (100, 2_000_000_000)
"""Requests per 5 minutes a WAFv2 rate-based rule accepts as its limit (WAF Developer Guide,
"Rate-based rule statement"; 100 is the older, still valid floor)."""


def domain_problem(domain: str) -> str | None:
    """A lowercase DNS name of two labels or more, as ACM and Route 53 take it (no wildcard:
    the certificate covers exactly the name the alias record creates)."""
    if not _DOMAIN.match(domain):
        return f"{domain!r} is not a lowercase domain name like app.example.com"
    return None


PLACEHOLDER_PATTERN = r"(?i)placeholder|changeme|change-me|replace-?me|todo|xxxx"
"""Marks of a value left for the user to fill in: the services stack refuses them at plan."""
RESERVED_DOMAIN_PATTERN = (
    r"(^|\.)example\.(com|net|org)$|\.(example|test|invalid|localhost)$"
    r"|^(example|test|invalid|localhost)$"
)
"""Names reserved for documentation and tests (RFC 2606): no public zone can hold them."""


def placeholder_problem(value: str) -> str | None:
    """Why `value` looks like a placeholder (a marker word or an RFC 2606 reserved domain)."""
    if re.search(PLACEHOLDER_PATTERN, value) or re.search(RESERVED_DOMAIN_PATTERN, value):
        return f"{value!r} is a placeholder: put your real value here before `terraform plan`"
    return None


def hosted_zone_id_problem(zone_id: str) -> str | None:
    return (
        None
        if _HOSTED_ZONE_ID.match(zone_id)
        else (f"{zone_id!r} is not a Route 53 hosted zone id (Z followed by capitals and digits)")
    )


# --- ECS deployments ----------------------------------------------------------------------

MAX_BAKE_MINUTES = 1440
"""ECS bake times (deployment, canary, linear step): 0-1440 minutes (API reference,
DeploymentConfiguration, CanaryConfiguration, LinearConfiguration)."""
LIFECYCLE_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
"""Stages a deployment lifecycle hook may run at (API reference, DeploymentLifecycleHook)."""
RESERVED_LISTENER_PORTS = (80, 443)
"""The ALB's production listeners: a test listener needs another port."""
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
    r"(:[A-Za-z0-9_$-]{1,128})?$"
)


def bake_minutes_problem(minutes: int) -> str | None:
    return between_problem(minutes, 0, MAX_BAKE_MINUTES)


def shift_percent_problem(percent: float, minimum: float) -> str | None:
    """A traffic share ECS accepts: a multiple of 0.1 from `minimum` to 100 (canary 0.1,
    linear step 3.0)."""
    if not minimum <= percent <= 100 or abs(round(percent * 10) - percent * 10) > 1e-6:
        return f"{percent} must be a multiple of 0.1 from {minimum} to 100"
    return None


def lambda_arn_problem(arn: str) -> str | None:
    return None if _LAMBDA_ARN.match(arn) else f"{arn!r} is not a Lambda function ARN"


def lifecycle_stages_problem(stages: tuple[str, ...]) -> str | None:
    if not stages:
        return "name at least one stage"
    unknown = [s for s in stages if s not in LIFECYCLE_STAGES]
    if unknown:
        return f"{unknown} are not ECS lifecycle stages ({', '.join(LIFECYCLE_STAGES)})"
    if len(set(stages)) != len(stages):
        return f"{list(stages)} names a stage twice"
    return None


def traffic_shift_problem(strategy: str, load_balanced: bool) -> str | None:
    """ECS-native BLUE_GREEN/CANARY/LINEAR shift traffic between two target groups of the ALB;
    without one only ROLLING fits (ECS Developer Guide, "Required resources for Amazon ECS
    blue/green deployments": Service Connect would be the other traffic source)."""
    if strategy != "ROLLING" and not load_balanced:
        return (
            f"{strategy} shifts traffic between two ALB target groups: it needs a "
            "load_balancer (or use ROLLING)"
        )
    return None


MAX_MIN_REQUESTS_PER_MINUTE = 100_000
"""Upper bound of `AlarmSpec.min_requests_per_minute`: a guard above it would silence the 5xx
alarm of all but the busiest services."""


def internal_callers_problem(
    strategy: str, callers: tuple[str, ...], service_connect: bool
) -> str | None:
    """Callers of a traffic-shifting service must go through Service Connect. ECS shifts a
    blue/green, canary or linear deployment's traffic on the ALB's rules and on Service
    Connect, where the new revision registers as a test endpoint and gets production calls
    only as the shift moves them (ECS Developer Guide, "Service Connect resources for Amazon
    ECS blue/green deployments", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    service-connect-blue-green.html). Cloud Map DNS answers with every healthy task, so
    callers would reach the new revision in full before and during the canary, unseen by its
    ALB alarms."""
    if strategy != "ROLLING" and callers and not service_connect:
        return (
            f"{strategy} shifts only ALB and Service Connect traffic, but "
            f"{', '.join(callers)} would call it through Cloud Map DNS and reach the new "
            "revision unshifted: set services_settings.service_connect=True (or deploy "
            "ROLLING)"
        )
    return None


# --- AppConfig --------------------------------------------------------------------------------

MAX_STRATEGY_MINUTES = 1440
"""AppConfig's limit for a strategy's deployment duration and final bake time (API reference,
CreateDeploymentStrategy)."""
DEPLOYMENT_CONFLICT_RETRY_MINUTES = 30
"""How long the AWS provider retries StartDeployment on ConflictException before failing the
apply (terraform-provider-aws, internal/service/appconfig/deployment.go: `timeout = 30 *
time.Minute`). AppConfig runs one deployment per environment at a time, so each chained
initial deployment waits for the previous one's rollout and bake."""


def appconfig_strategy_problem(
    strategy: str, deployment_minutes: int, bake_minutes: int, chained_deployments: int = 1
) -> tuple[str, str] | None:
    """(field, reason) if an AppConfig strategy is invalid, or would fail the first apply.

    `strategy` is "all_at_once" or "linear"; `chained_deployments` counts the initial
    deployments Terraform starts one after another into the same AppConfig environment.
    """
    for name, minutes in (
        ("deployment_minutes", deployment_minutes),
        ("bake_minutes", bake_minutes),
    ):
        if not 0 <= minutes <= MAX_STRATEGY_MINUTES:
            return name, f"{minutes} must be between 0 and {MAX_STRATEGY_MINUTES}"
    if strategy == "all_at_once" and deployment_minutes:
        return "deployment_minutes", "an all-at-once strategy has no deployment duration (0)"
    if strategy == "linear" and deployment_minutes < 1:
        return "deployment_minutes", "a linear strategy needs deployment_minutes >= 1"
    total = deployment_minutes + bake_minutes
    if chained_deployments > 1 and total >= DEPLOYMENT_CONFLICT_RETRY_MINUTES:
        return "bake_minutes", (
            f"rollout + bake = {total} min: with {chained_deployments} config profiles the "
            f"initial deployments run one after another and the AWS provider waits at most "
            f"{DEPLOYMENT_CONFLICT_RETRY_MINUTES} min for the previous one, so the first apply "
            f"would fail; keep it under {DEPLOYMENT_CONFLICT_RETRY_MINUTES}"
        )
    return None
