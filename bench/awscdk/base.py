"""What every stack of the AWS CDK comparison app shares: `<kind>-<env>`, account, region."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from bench.awscdk.envs import EnvPlan
from settings.naming import stack_name

RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
"""CloudWatch Logs retention as aws-cdk's enum (its members are names, not day counts)."""


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for `days` (one clear error for a value not mapped here)."""
    if days not in RETENTION:
        raise ValueError(f"no RetentionDays mapping for {days} days: add it to RETENTION")
    return RETENTION[days]


def pascal(name: str) -> str:
    """`config-agent` -> `ConfigAgent`: construct ids from names."""
    return "".join(part.capitalize() for part in name.replace(".", "-").split("-"))


class EnvStack(cdk.Stack):
    """A stack named `<kind>-<env>` in the env's explicit account and region (no lookups).

    The env's tags are stack tags: CloudFormation copies them onto every resource it creates,
    as our provider's `default_tags` do."""

    kind = ""

    def __init__(self, scope: Construct, env: EnvPlan) -> None:
        super().__init__(
            scope,
            stack_name(self.kind, env.name),
            stack_name=stack_name(self.kind, env.name),
            env=cdk.Environment(account=env.account, region=env.region),
            tags=env.tags,
        )
        self.plan = env
