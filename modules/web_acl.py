"""A WAFv2 web ACL for the env's ALB: AWS managed rule groups, a per-IP rate limit, logging.

Rule groups, in order (WAF Developer Guide, "AWS Managed Rules rule groups list"): the Amazon
IP reputation list (known bad sources, cheapest first), the core rule set (OWASP-style common
exploits), known bad inputs (e.g. Log4j JNDI lookups), optionally the anonymous IP list; then a
rate-based rule blocking an IP above `rate_limit` requests per 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone,
    Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from engine.aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from engine.aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration,
    Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)
from modules.checkov_skips import LOG_GROUP_DEFAULT_ENCRYPTION, retention_skips, skip_checks
from settings.rules import WAF_RATE_LIMIT, between_problem

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
ANONYMOUS_IP_LIST = "AWSManagedRulesAnonymousIpList"
"""Optional: VPNs, Tor, hosting providers (`block_anonymous_ips`)."""
LOG_GROUP_PREFIX = "aws-waf-logs-"
"""WAF logs only to log groups named so (WAF Developer Guide, "CloudWatch Logs")."""
REDACTED_HEADERS = ("authorization", "cookie")
"""Credentials never reach the WAF log."""


@dataclass(frozen=True)
class WebAclProps:
    """ACL name (`<env>-platform-alb`), the rate limit and the log retention."""

    name: str
    rate_limit: int
    log_retention_days: int
    block_anonymous_ips: bool = False
    """Also the AWS managed anonymous IP list; default off (it turns away VPN users)."""


def _visibility(metric_name: str) -> Wafv2WebAclRuleVisibilityConfig:
    return Wafv2WebAclRuleVisibilityConfig(
        cloudwatch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _managed(priority: int, name: str) -> Wafv2WebAclRule:
    # `statement` is untyped in the bindings (WAF statements nest recursively): a plain dict
    # of single blocks, asserted in the synthesized JSON by the tests.
    statement: dict[str, Any] = {
        "managed_rule_group_statement": {"name": name, "vendor_name": "AWS"}
    }
    return Wafv2WebAclRule(
        name=name,
        priority=priority,
        statement=statement,
        visibility_config=_visibility(name),
        override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
    )


class WebAcl(Construct):
    """Regional web ACL, allow by default, with its log group; `associate(arn)` attaches it."""

    def __init__(self, scope: Construct, id_: str, props: WebAclProps) -> None:
        super().__init__(scope, id_)
        if problem := between_problem(props.rate_limit, *WAF_RATE_LIMIT):
            raise ValueError(f"WAF rate limit: {problem}")
        groups = [*MANAGED_RULE_GROUPS, *([ANONYMOUS_IP_LIST] if props.block_anonymous_ips else [])]
        rules = [_managed(i, name) for i, name in enumerate(groups)]
        self.blocks_anonymous_ips = props.block_anonymous_ips
        rules.append(
            Wafv2WebAclRule(
                name="RateLimitPerIp",
                priority=len(rules),
                statement={
                    "rate_based_statement": {"limit": props.rate_limit, "aggregate_key_type": "IP"}
                },
                action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
                visibility_config=_visibility("RateLimitPerIp"),
            )
        )
        self.acl = Wafv2WebAcl(
            self,
            "WebAcl",
            name=props.name,
            scope="REGIONAL",
            description="AWS managed rules and a per-IP rate limit in front of the ALB",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            rule=rules,
            visibility_config=Wafv2WebAclVisibilityConfig(
                cloudwatch_metrics_enabled=True,
                metric_name=props.name,
                sampled_requests_enabled=True,
            ),
        )
        self.log_group = CloudwatchLogGroup(
            self,
            "LogGroup",
            name=f"{LOG_GROUP_PREFIX}{props.name}",
            retention_in_days=props.log_retention_days,
        )
        skip_checks(
            self.log_group,
            {
                "CKV_AWS_158": LOG_GROUP_DEFAULT_ENCRYPTION,
                **retention_skips(props.log_retention_days),
            },
        )
        Wafv2WebAclLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[
                Wafv2WebAclLoggingConfigurationRedactedFields(
                    single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(
                        name=header
                    )
                )
                for header in REDACTED_HEADERS
            ],
        )
        self.arn = self.acl.arn

    def associate(self, resource_arn: str) -> Wafv2WebAclAssociation:
        """Attach the ACL to a regional resource (the ALB)."""
        return Wafv2WebAclAssociation(
            self, "Association", resource_arn=resource_arn, web_acl_arn=self.acl.arn
        )
