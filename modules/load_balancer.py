"""The environment's internet-facing ALB, shared by every service that declares a load balancer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from engine.aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from engine.aws.lb import Lb
from engine.aws.lb_listener import LbListener, LbListenerDefaultAction
from engine.aws.lb_listener_certificate import LbListenerCertificate
from engine.aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleCondition,
)
from engine.aws.lb_target_group import LbTargetGroup
from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.checkov_skips import skip_checks
from modules.iam import statement
from modules.secure_bucket import SecureBucket, SecureBucketProps
from settings.naming import PARTITION
from settings.rules import alb_name_problem

HTTP_PORT = 80
HTTPS_PORT = 443
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 only."""
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
ACCESS_LOG_PREFIX = "alb"
DEREGISTRATION_DELAY = 30
"""Seconds to drain a task's connections; ECS stops tasks only after this."""
RULE_PRIORITY_BASE = 100
PUBLIC_HTTP_REASON = (
    "internet-facing ALB by design: port 80 serves (or, with a certificate, redirects to "
    "HTTPS) for the CIDRs the service spec allows; tasks are reachable only through the ALB SG")
ACCESS_LOG_BUCKET_SKIPS = {
    "CKV_AWS_145": "ALB access log delivery supports only SSE-S3, not SSE-KMS",
    "CKV_AWS_18": "this bucket is the access-log destination; logging it would log the logger",
    "CKV_AWS_144": "access logs are operational data kept 1 year; no cross-region copy needed",
    "CKV2_AWS_62": "nothing consumes object events from the access-log bucket",
}
MAX_TARGET_GROUP_NAME = 32


@dataclass(frozen=True)
class AlbTarget:
    """One service behind the ALB: the first is the default action, others get `/<name>/*`."""

    name: str
    target_group_name: str
    port: int
    health_check_path: str


@dataclass(frozen=True)
class LoadBalancerProps:
    """ALB name, placement, exposure and the services it fronts."""

    name: str
    account_id: str
    vpc_id: str
    subnet_ids: Sequence[str]
    targets: tuple[AlbTarget, ...]
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    certificate_arns: tuple[str, ...] = ()
    """HTTPS (with HTTP->HTTPS redirect) when non-empty; the first is the listener default."""
    deletion_protection: bool = False
    access_logs_bucket_name: str | None = None
    idle_timeout_seconds: int = 60


def target_group_name(env: str, service: str) -> str:
    """`<env>-<service>`, shortened with a stable hash suffix to ALB's 32-character limit."""
    name = f"{env}-{service}"
    if len(name) <= MAX_TARGET_GROUP_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[:MAX_TARGET_GROUP_NAME - 7].rstrip('-')}-{digest}"


def _forward(target_group_arn: str) -> dict:
    return {"type": "forward", "target_group_arn": target_group_arn}


class LoadBalancer(Construct):
    """ALB + its SG, listeners, target groups (type ip, for awsvpc tasks), optional access logs."""

    def __init__(self, scope: Construct, id_: str, props: LoadBalancerProps) -> None:
        super().__init__(scope, id_)
        if not props.targets:
            raise ValueError("a load balancer needs at least one target service")
        if problem := alb_name_problem(props.name):
            raise ValueError(problem)
        names = [t.name for t in props.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate ALB targets: {names}")
        https = bool(props.certificate_arns)
        self.https = https

        self.security_group = SecurityGroup(
            self, "SecurityGroup", name=props.name, vpc_id=props.vpc_id,
            description="ALB: HTTP/HTTPS from allowed CIDRs, egress only to service tasks",
            tags={"Name": props.name})
        self.security_group_id = self.security_group.id
        ports = (HTTP_PORT, HTTPS_PORT) if https else (HTTP_PORT,)
        for cidr_index, cidr in enumerate(props.allowed_cidrs):
            for port in ports:
                family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}
                rule = VpcSecurityGroupIngressRule(
                    self, f"Ingress{port}From{cidr_index}",
                    security_group_id=self.security_group.id,
                    description=f"port {port} from {cidr}", ip_protocol="tcp",
                    from_port=port, to_port=port, **family)
                if port == HTTP_PORT and cidr in ("0.0.0.0/0", "::/0"):
                    skip_checks(rule, {"CKV_AWS_260": PUBLIC_HTTP_REASON})

        lb_args: dict = {}
        self.access_logs_bucket: SecureBucket | None = None
        if props.access_logs_bucket_name:
            lb_args["access_logs"] = self._access_logs(props)
            lb_args["depends_on"] = [self.access_logs_bucket.policy]
        self.alb = Lb(
            self, "Alb", name=props.name, internal=False, load_balancer_type="application",
            security_groups=[self.security_group.id], subnets=props.subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=props.deletion_protection,
            idle_timeout=props.idle_timeout_seconds, **lb_args)
        skip_checks(self.alb, {
            **({} if props.access_logs_bucket_name else {
                "CKV_AWS_91": "access logs are enabled per environment (services_settings."
                              "alb_access_logs); off where the env table chose so"}),
            **({} if props.deletion_protection else {
                "CKV_AWS_150": "deletion protection is on in prod only (services_settings."
                               "alb_deletion_protection) so short-lived envs can be torn down"}),
            "CKV2_AWS_28": "WAF is not part of this platform; ALB exposure is limited by "
                           "allowed_cidrs per service",
            **({} if https else {
                "CKV2_AWS_20": "no service in this env declares a certificate_arn, so there is "
                               "no HTTPS listener to redirect to; the redirect appears with one"}),
        })
        self.dns_name = self.alb.dns_name
        self.arn = self.alb.arn

        self.target_groups: dict[str, LbTargetGroup] = {}
        for index, target in enumerate(props.targets):
            self.target_groups[target.name] = group = LbTargetGroup(
                self, f"TargetGroup{_pascal(target.name)}", name=target.target_group_name,
                port=target.port, protocol="HTTP", target_type="ip", vpc_id=props.vpc_id,
                deregistration_delay=str(DEREGISTRATION_DELAY),
                health_check={"enabled": True, "path": target.health_check_path,
                              "protocol": "HTTP", "port": "traffic-port", "matcher": "200-399",
                              "interval": 15, "timeout": 5, "healthy_threshold": 2,
                              "unhealthy_threshold": 3})
            # checkov accepts an HTTP target group only as the default of an HTTPS listener.
            if not https or index > 0:
                skip_checks(group, {"CKV_AWS_378": "TLS ends at the ALB; ALB-to-task traffic "
                                                   "stays in the VPC and the task SG admits only "
                                                   "the ALB SG"})
        default_tg = self.target_groups[props.targets[0].name]

        if https:
            self.listener = LbListener(
                self, "HttpsListener", load_balancer_arn=self.alb.arn, port=HTTPS_PORT,
                protocol="HTTPS", ssl_policy=TLS_POLICY, certificate_arn=props.certificate_arns[0],
                default_action=[LbListenerDefaultAction(**_forward(default_tg.arn))])
            self.redirect_listener: LbListener | None = LbListener(
                self, "HttpListener", load_balancer_arn=self.alb.arn, port=HTTP_PORT,
                protocol="HTTP", default_action=[LbListenerDefaultAction(
                    type="redirect", redirect={"port": str(HTTPS_PORT), "protocol": "HTTPS",
                                               "status_code": "HTTP_301"})])
            for i, arn in enumerate(dict.fromkeys(props.certificate_arns[1:])):
                if arn != props.certificate_arns[0]:
                    LbListenerCertificate(self, f"ExtraCertificate{i}",
                                          listener_arn=self.listener.arn, certificate_arn=arn)
        else:
            self.listener = LbListener(
                self, "HttpListener", load_balancer_arn=self.alb.arn, port=HTTP_PORT,
                protocol="HTTP",
                default_action=[LbListenerDefaultAction(**_forward(default_tg.arn))])
            skip_checks(self.listener, {
                "CKV_AWS_2": "no service in this env declares a certificate_arn; the listener "
                             "becomes HTTPS (with redirect) as soon as one does",
                "CKV_AWS_103": "plain HTTP listener (no certificate declared): no TLS to set"})
            self.redirect_listener = None

        self.rules: list[LbListenerRule] = []
        for i, target in enumerate(props.targets[1:]):
            self.rules.append(LbListenerRule(
                self, f"Rule{_pascal(target.name)}", listener_arn=self.listener.arn,
                priority=RULE_PRIORITY_BASE + i,
                action=[LbListenerRuleAction(**_forward(self.target_groups[target.name].arn))],
                condition=[LbListenerRuleCondition(path_pattern={
                    "values": [f"/{target.name}", f"/{target.name}/*"]})]))

    def _access_logs(self, props: LoadBalancerProps) -> dict:
        """SSE-S3 bucket (ALB log delivery cannot use SSE-KMS) writable by ELB log delivery."""
        bucket = props.access_logs_bucket_name
        assert bucket is not None
        objects = (f"arn:{PARTITION}:s3:::{bucket}/{ACCESS_LOG_PREFIX}/AWSLogs/"
                   f"{props.account_id}/*")
        # Regions launched since 2022 deliver as the service principal; older ones as the
        # regional ELB account, which the provider knows (no hard-coded account table).
        elb_account = DataAwsElbServiceAccount(self, "ElbServiceAccount")
        self.access_logs_bucket = SecureBucket(self, "AccessLogs", SecureBucketProps(
            bucket_name=bucket, kms_key_arn=None, policy_statements=(
                statement(["s3:PutObject"], [objects], sid="ElbLogDelivery",
                          principal={"Service": ELB_LOG_DELIVERY}),
                statement(["s3:PutObject"], [objects], sid="ElbRegionalAccountLogDelivery",
                          principal={"AWS": elb_account.arn}),
            )))
        skip_checks(self.access_logs_bucket.bucket, ACCESS_LOG_BUCKET_SKIPS)
        return {"bucket": self.access_logs_bucket.name, "prefix": ACCESS_LOG_PREFIX,
                "enabled": True}

    def allow_to_service(self, name: str, security_group_id: str, port: int) -> None:
        """Egress from the ALB to one service's tasks on its container port, SG to SG."""
        VpcSecurityGroupEgressRule(
            self, f"EgressTo{_pascal(name)}", security_group_id=self.security_group.id,
            description=f"to {name} tasks", ip_protocol="tcp", from_port=port, to_port=port,
            referenced_security_group_id=security_group_id)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
