"""The deploy role's policy as data (no cdktf: tests and scripts read it directly).

See modules/deploy_role.py for the breadth and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from settings.images import built_images
from settings.naming import PARTITION
from settings.schema import S3State

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

NAME_SCOPED: dict[str, tuple[str, ...]] = {
    "iam": (
        "arn:{p}:iam::{a}:role/{e}-*",
        "arn:{p}:iam::{a}:instance-profile/{e}-*",
        "arn:{p}:iam::{a}:policy/{e}-*",
    ),
    "ecs": (
        "arn:{p}:ecs:{r}:{a}:cluster/{e}-*",
        "arn:{p}:ecs:{r}:{a}:service/{e}-*/*",
        "arn:{p}:ecs:{r}:{a}:capacity-provider/{e}-*",
        "arn:{p}:ecs:{r}:{a}:task-definition/{e}-*:*",
        "arn:{p}:ecs:{r}:{a}:task/{e}-*/*",
        "arn:{p}:ecs:{r}:{a}:task-set/{e}-*/*/*",
        "arn:{p}:ecs:{r}:{a}:container-instance/{e}-*/*",
    ),
    "autoscaling": ("arn:{p}:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/{e}-*",),
    "elasticloadbalancing": (
        "arn:{p}:elasticloadbalancing:{r}:{a}:loadbalancer/app/{e}-*/*",
        "arn:{p}:elasticloadbalancing:{r}:{a}:targetgroup/{e}-*/*",
        "arn:{p}:elasticloadbalancing:{r}:{a}:listener/app/{e}-*/*/*",
        "arn:{p}:elasticloadbalancing:{r}:{a}:listener-rule/app/{e}-*/*/*/*",
    ),
    "sqs": ("arn:{p}:sqs:{r}:{a}:{e}-*",),
    "sns": ("arn:{p}:sns:{r}:{a}:{e}-*",),
    "secretsmanager": ("arn:{p}:secretsmanager:{r}:{a}:secret:/{e}/*",),
    "ssm": ("arn:{p}:ssm:{r}:{a}:parameter/{e}/*",),
    "logs": (
        "arn:{p}:logs:{r}:{a}:log-group:/ecs/{e}-*",
        "arn:{p}:logs:{r}:{a}:log-group:/vpc/{e}-*",
        "arn:{p}:logs:{r}:{a}:log-group:/aws/*/{e}-*",
        # WAF logs only to groups named aws-waf-logs-*:
        # https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
        "arn:{p}:logs:{r}:{a}:log-group:aws-waf-logs-{e}-*",
    ),
    "events": ("arn:{p}:events:{r}:{a}:rule/{e}-*",),
    "cloudwatch": (
        "arn:{p}:cloudwatch:{r}:{a}:alarm:{e}-*",
        "arn:{p}:cloudwatch::{a}:dashboard/{e}-*",
    ),
    "cloudtrail": ("arn:{p}:cloudtrail:{r}:{a}:trail/{e}-*",),
    "s3": ("arn:{p}:s3:::{e}-*", "arn:{p}:s3:::{e}-*/*"),
    "lambda": ("arn:{p}:lambda:{r}:{a}:function:{e}-*",),
    "firehose": ("arn:{p}:firehose:{r}:{a}:deliverystream/{e}-*",),
}
"""Services whose every resource here is named `<env>-...` (or `/<env>/...`); `{p}` partition,
`{r}` region, `{a}` account, `{e}` env. ECR is added per env (its repositories' names)."""

REGION_WIDE = (
    "ec2",
    "kms",
    "appconfig",
    "application-autoscaling",
    "servicediscovery",
    "acm",
    "wafv2",
)
"""Services whose resources get generated ids (vpc-0abc, key/uuid, AppConfig app ids): `*` in
the env's region."""
GLOBAL = ("route53",)
"""Cloud Map creates the private zone through Route 53 (CreateHostedZone takes no ARN)."""

ANYWHERE_READS = (
    "ecs:Describe*",
    "ecs:List*",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:PutAccountSettingDefault",
    "autoscaling:Describe*",
    "elasticloadbalancing:Describe*",
    "sqs:ListQueues",
    "sns:ListTopics",
    "secretsmanager:ListSecrets",
    "ssm:DescribeParameters",
    "logs:DescribeLogGroups",
    "events:ListRules",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListDashboards",
    "cloudtrail:DescribeTrails",
    "s3:ListAllMyBuckets",
    "ecr:GetAuthorizationToken",
    "ecr:DescribeRepositories",
    "lambda:ListFunctions",
    "firehose:ListDeliveryStreams",
)
"""Actions the reference lists without a resource type (only `*` matches): reads, and the few
ECS account-level writes (task definitions have no ARN before they exist)."""

SERVICE_LINKED_ROLES = (
    "ecs.amazonaws.com",
    "autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "spot.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
)

TERRAFORM_SERVICES: dict[str, str] = {
    "aws_appautoscaling_": "application-autoscaling",
    "aws_appconfig_": "appconfig",
    "aws_autoscaling_": "autoscaling",
    "aws_cloudtrail": "cloudtrail",
    "aws_cloudwatch_dashboard": "cloudwatch",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_cloudwatch_composite_alarm": "cloudwatch",
    "aws_cloudwatch_event_": "events",
    "aws_cloudwatch_log_": "logs",
    "aws_ecr_": "ecr",
    "aws_ecs_": "ecs",
    "aws_iam_": "iam",
    "aws_kms_": "kms",
    "aws_lb": "elasticloadbalancing",
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_service_discovery_": "servicediscovery",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_ssm_": "ssm",
    "aws_wafv2_": "wafv2",
    "aws_acm_": "acm",
    "aws_route53_": "route53",
    "aws_lambda_": "lambda",
    "aws_kinesis_firehose_": "firehose",
    "aws_default_security_group": "ec2",
    "aws_eip": "ec2",
    "aws_flow_log": "ec2",
    "aws_internet_gateway": "ec2",
    "aws_launch_template": "ec2",
    "aws_nat_gateway": "ec2",
    "aws_route": "ec2",
    "aws_subnet": "ec2",
    "aws_vpc": "ec2",
    "aws_security_group": "ec2",
    "aws_network_acl": "ec2",
    "aws_default_network_acl": "ec2",
    "aws_default_route_table": "ec2",
}
"""Terraform resource type prefix -> the IAM service that manages it (longest prefix wins); a
test holds every type the stacks synthesize to a service this policy grants."""


def service_of(resource_type: str) -> str | None:
    """The IAM service prefix of a Terraform resource type, or None when unknown."""
    matches = [p for p in TERRAFORM_SERVICES if resource_type.startswith(p)]
    return TERRAFORM_SERVICES[max(matches, key=len)] if matches else None


MANAGED_POLICIES = tuple(
    f"arn:{PARTITION}:iam::aws:policy/{name}"
    for name in (
        "AmazonSSMManagedInstanceCore",
        "CloudWatchAgentServerPolicy",
        "AmazonECSInfrastructureRolePolicyForLoadBalancers",
        "service-role/AmazonEC2ContainerServiceforEC2Role",
        "service-role/AmazonECSTaskExecutionRolePolicy",
    )
)
"""The AWS-managed policies the env stacks attach (a test compares them with the synth)."""


def role_name_problem(env: str, path_and_name: str) -> str | None:
    """A deploy role inside `role/<env>-*` could rewrite its own policy."""
    if path_and_name.lstrip("/").startswith(f"{env}-"):
        return (
            f"deploy role {path_and_name!r} must not start with '{env}-': its policy "
            f"manages role/{env}-*, so it could rewrite itself"
        )
    return None


@dataclass(frozen=True)
class DeployPolicyScope:
    """Where the env's stacks live and what they are called."""

    env: str
    account_id: str
    region: str
    repositories: tuple[str, ...]
    """The env's ECR repositories (named after images, not the env)."""
    state_bucket: str | None
    state_prefix: str
    """`<key_prefix>/<env>`: the env's state objects."""
    managed_policies: tuple[str, ...]
    """AWS-managed policy ARNs the stacks attach (attachments of any other are denied)."""


def _arns(scope: DeployPolicyScope, patterns: Sequence[str]) -> list[str]:
    return [
        p.format(p=PARTITION, r=scope.region, a=scope.account_id, e=scope.env) for p in patterns
    ]


def deploy_statements(scope: DeployPolicyScope) -> list[dict[str, Any]]:
    """The deploy role's policy statements."""
    return [*_service_statements(scope), *_iam_statements(scope), *_state_statements(scope)]


def _service_statements(scope: DeployPolicyScope) -> list[dict[str, Any]]:
    """Every service the stacks use: by name where ARNs allow, else in the region only."""
    region = {"StringEquals": {"aws:RequestedRegion": scope.region}}
    repos = [
        f"arn:{PARTITION}:ecr:{scope.region}:{scope.account_id}:repository/{r}"
        for r in scope.repositories
    ]
    return [
        {
            "Sid": "NamedResources",
            "Effect": "Allow",
            "Action": [f"{s}:*" for s in (*NAME_SCOPED, "ecr")],
            "Resource": [a for s in NAME_SCOPED.values() for a in _arns(scope, s)] + repos,
        },
        {
            "Sid": "GeneratedIdsInRegion",
            "Effect": "Allow",
            "Action": [f"{s}:*" for s in REGION_WIDE],
            "Resource": "*",
            "Condition": region,
        },
        {
            "Sid": "GlobalDns",
            "Effect": "Allow",
            "Action": [f"{s}:*" for s in GLOBAL],
            "Resource": "*",
        },
        {
            "Sid": "UnscopableActions",
            "Effect": "Allow",
            "Action": list(ANYWHERE_READS),
            "Resource": "*",
            "Condition": region,
        },
    ]


def _iam_statements(scope: DeployPolicyScope) -> list[dict[str, Any]]:
    """Service-linked roles of the listed services; no managed policy beyond the stacks' own."""
    return [
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"arn:{PARTITION}:iam::{scope.account_id}:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            "Sid": "OnlyTheManagedPoliciesTheStacksAttach",
            "Effect": "Deny",
            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"iam:PolicyARN": list(scope.managed_policies)}},
        },
    ]


def _state_statements(scope: DeployPolicyScope) -> list[dict[str, Any]]:
    """The env's own Terraform state in the S3 backend, if it has one."""
    if not scope.state_bucket:
        return []
    bucket = f"arn:{PARTITION}:s3:::{scope.state_bucket}"
    return [
        {
            "Sid": "ListOwnState",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringLike": {"s3:prefix": f"{scope.state_prefix}/*"}},
        },
        {
            "Sid": "ReadWriteOwnState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket}/{scope.state_prefix}/*",
        },
    ]


def deploy_scope(env: EnvironmentSettings) -> DeployPolicyScope:
    """What the deploy role of `env` may touch."""
    state = env.state if isinstance(env.state, S3State) else None
    return DeployPolicyScope(
        env=env.name,
        account_id=env.account_id,
        region=env.region,
        repositories=tuple(i.repository for i in built_images(env)),
        state_bucket=state.bucket if state else None,
        state_prefix=f"{state.key_prefix.strip('/')}/{env.name}" if state else env.name,
        managed_policies=MANAGED_POLICIES,
    )
