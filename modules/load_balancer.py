"""The environment's internet-facing ALB, shared by every service that declares a load balancer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from engine.aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy_attachment import IamRolePolicyAttachment
from engine.aws.lb import Lb
from engine.aws.lb_listener import LbListener, LbListenerDefaultAction
from engine.aws.lb_listener_certificate import LbListenerCertificate
from engine.aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleActionForward,
    LbListenerRuleActionForwardTargetGroup,
    LbListenerRuleCondition,
)
from engine.aws.lb_target_group import LbTargetGroup
from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from engine.core import TerraformResource, TerraformResourceLifecycle
from modules.checkov_skips import skip_checks
from modules.ecs_service.props import TargetGroupAttachment, TrafficShift
from modules.ecs_service.security_groups import egress_to
from modules.iam import assume_role_policy, managed_policy_arn, statement
from modules.secure_bucket import SecureBucket, SecureBucketProps
from modules.web_acl import WebAcl
from settings.naming import PARTITION, pascal_case
from settings.rules import RESERVED_LISTENER_PORTS, alb_name_problem
from settings.services import TestListener

if TYPE_CHECKING:
    from modules.ecs_service import EcsService

HTTP_PORT = 80
HTTPS_PORT = 443
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 only."""
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
ACCESS_LOG_PREFIX = "alb"
DEREGISTRATION_DELAY = 30
"""Seconds to drain a task's connections; ECS stops tasks only after this."""
RULE_PRIORITY_BASE = 100
CATCH_ALL_PRIORITY = 50000
"""The last rule priority an ALB accepts: the production rule of the default service matches
every path (`/*`), so it must come after every path rule."""
CATCH_ALL = ("/*",)
TRAFFIC_SHIFT_POLICY = "AmazonECSInfrastructureRolePolicyForLoadBalancers"
"""AWS-managed policy of the role ECS assumes to register targets and reweight listener rules
during blue/green, canary and linear deployments (ECS Developer Guide, "Amazon ECS
infrastructure IAM role for load balancers"); AWS keeps its action list in step with ECS."""
PUBLIC_HTTP_REASON = (
    "internet-facing ALB by design: port 80 serves (or, with a certificate, redirects to "
    "HTTPS) for the CIDRs the service spec allows; tasks are reachable only through the ALB SG"
)
ACCESS_LOG_BUCKET_SKIPS = {
    "CKV_AWS_145": "ALB access log delivery supports only SSE-S3, not SSE-KMS",
    "CKV_AWS_18": "this bucket is the access-log destination; logging it would log the logger",
    "CKV_AWS_144": "access logs are operational data kept 1 year; no cross-region copy needed",
    "CKV2_AWS_62": "nothing consumes object events from the access-log bucket",
}
MAX_TARGET_GROUP_NAME = 32
PLAIN_HTTP_LISTENER_SKIPS = {
    "CKV_AWS_2": "no certificate in this env (services_settings.https, or a service's "
    "certificate_arn); the listener becomes HTTPS (with redirect) with one; "
    "production envs must have one or an explicit plain_http_waiver",
    "CKV_AWS_103": "plain HTTP listener (no certificate in this env): no TLS to set",
}


@dataclass(frozen=True)
class AlbTarget:
    """One service behind the ALB: the first is the default action, others get `/<name>/*`."""

    name: str
    target_group_name: str
    port: int
    health_check_path: str
    alternate_target_group_name: str | None = None
    """Set for a traffic-shifting (blue/green, canary, linear) service: it then gets a second
    target group and a production listener rule forwarding to both by weight, which ECS moves
    during a deployment (the listener's default action is not something ECS can reweight)."""
    test_listener: TestListener | None = None
    """With an alternate target group: a listener on this port whose rule ECS points at the
    new revision before production traffic moves."""


@dataclass(frozen=True)
class AccessLogs:
    """Where the ALB writes its access logs: an SSE-S3 bucket created here."""

    bucket_name: str
    account_id: str
    """The ALB's account: ELB log delivery writes under `AWSLogs/<account>/` only."""


@dataclass(frozen=True)
class LoadBalancerMetrics:
    """A service's ALB dimensions: ARN suffixes of the load balancer and of its target groups
    (two for a traffic-shifting service, either of which may carry production traffic)."""

    load_balancer: str
    target_groups: Sequence[str]


@dataclass(frozen=True)
class LoadBalancerProps:
    """ALB name, placement, exposure and the services it fronts."""

    name: str
    vpc_id: str
    subnet_ids: Sequence[str]
    """Public subnets: the ALB is internet-facing."""
    targets: tuple[AlbTarget, ...]
    """At least one; the first is the listener's default action, the others get path rules."""
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the listener ports (IPv4 or IPv6 CIDRs); default everyone."""
    certificate_arns: tuple[str, ...] = ()
    """HTTPS (with HTTP->HTTPS redirect) when non-empty; the first is the listener default.
    Default none: plain HTTP."""
    web_acl: WebAcl | None = None
    """A WAFv2 web ACL to attach to the ALB; default none."""
    deletion_protection: bool = False
    """Default off, so short-lived envs can be torn down."""
    access_logs: AccessLogs | None = None
    """Default none: no access logs."""
    idle_timeout_seconds: int = 60
    """ALB's own default."""


def target_group_name(env: str, service: str) -> str:
    """`<env>-<service>`, shortened with a stable hash suffix to ALB's 32-character limit."""
    name = f"{env}-{service}"
    if len(name) <= MAX_TARGET_GROUP_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: MAX_TARGET_GROUP_NAME - 7].rstrip('-')}-{digest}"


def targets_problem(targets: Sequence[AlbTarget]) -> str | None:
    """Why these targets cannot share one ALB, or None."""
    if not targets:
        return "a load balancer needs at least one target service"
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        return f"duplicate ALB targets: {names}"
    test_ports = [t.test_listener.port for t in targets if t.test_listener]
    if len(set(test_ports)) != len(test_ports) or set(test_ports) & set(RESERVED_LISTENER_PORTS):
        return (
            f"test listener ports {test_ports} must be distinct and not {RESERVED_LISTENER_PORTS}"
        )
    if any(t.test_listener and not t.alternate_target_group_name for t in targets):
        return "a test listener needs an alternate target group"
    return None


def _forward(target_group_arn: str) -> dict[str, Any]:
    return {"type": "forward", "target_group_arn": target_group_arn}


def _weighted_forward(live_arn: str, idle_arn: str) -> LbListenerRuleAction:
    """All traffic to `live_arn`, none to `idle_arn`: the starting weights ECS then moves."""
    return LbListenerRuleAction(
        type="forward",
        forward=LbListenerRuleActionForward(
            target_group=[
                LbListenerRuleActionForwardTargetGroup(arn=live_arn, weight=100),
                LbListenerRuleActionForwardTargetGroup(arn=idle_arn, weight=0),
            ]
        ),
    )


def _paths(values: tuple[str, ...]) -> list[LbListenerRuleCondition]:
    return [LbListenerRuleCondition(path_pattern={"values": list(values)})]


def _cidr_family(cidr: str) -> dict[str, Any]:
    return {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}


ECS_OWNS_ACTION = TerraformResourceLifecycle(ignore_changes=["action"])
"""ECS rewrites a traffic-shifting rule's weights on every deployment: Terraform must not put
the starting weights back (terraform-aws-modules/terraform-aws-alb#409)."""


class LoadBalancer(Construct):
    """ALB + its SG, listeners, target groups (type ip, for awsvpc tasks), optional access logs;
    `add_target(service)` puts a service behind its target group(s)."""

    def __init__(self, scope: Construct, id_: str, props: LoadBalancerProps) -> None:
        super().__init__(scope, id_)
        if problem := targets_problem(props.targets) or alb_name_problem(props.name):
            raise ValueError(problem)
        self._props = props
        self.https = bool(props.certificate_arns)
        self.security_group = self._security_group()
        self.security_group_id = self.security_group.id
        self.access_logs_bucket: SecureBucket | None = None
        """Set by `_access_logs` when the props ask for access logs."""
        self.alb = self._alb()
        self.dns_name = self.alb.dns_name
        self.zone_id = self.alb.zone_id
        """The ALB's canonical hosted zone: what an alias record to it names."""
        self.arn = self.alb.arn
        self.arn_suffix = self.alb.arn_suffix
        """The `LoadBalancer` dimension of AWS/ApplicationELB metrics."""
        self.target_groups: dict[str, LbTargetGroup] = {}
        self.alternate_target_groups: dict[str, LbTargetGroup] = {}
        for index, target in enumerate(props.targets):
            # checkov accepts an HTTP target group only as the default of an HTTPS listener.
            self._add_target_groups(target, listener_default=self.https and index == 0)
        self.redirect_listener: LbListener | None = None
        self.listener = self._listeners(self.target_groups[props.targets[0].name])
        self.rules: list[LbListenerRule] = []
        """Every rule of every listener: services wait for them before registering targets."""
        self.production_rules: dict[str, LbListenerRule] = {}
        self._path_rules()
        self.traffic_shift_role: IamRole | None = None
        self.traffic_shift_grant: IamRolePolicyAttachment | None = None
        if self.alternate_target_groups:
            self._traffic_shift_role()
        self.test_listeners: dict[str, LbListener] = {}
        self.test_rules: dict[str, LbListenerRule] = {}
        for target in props.targets:
            if target.test_listener is not None:
                self._test_listener(target)

    def _security_group(self) -> SecurityGroup:
        """The ALB's SG: the listener ports from the allowed CIDRs; egress is added per
        service by `add_target`."""
        props = self._props
        sg = SecurityGroup(
            self,
            "SecurityGroup",
            name=props.name,
            vpc_id=props.vpc_id,
            description="ALB: HTTP/HTTPS from allowed CIDRs, egress only to service tasks",
            tags={"Name": props.name},
        )
        ports = (HTTP_PORT, HTTPS_PORT) if self.https else (HTTP_PORT,)
        for cidr_index, cidr in enumerate(props.allowed_cidrs):
            for port in ports:
                rule = VpcSecurityGroupIngressRule(
                    self,
                    f"Ingress{port}From{cidr_index}",
                    security_group_id=sg.id,
                    description=f"port {port} from {cidr}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    **_cidr_family(cidr),
                )
                if port == HTTP_PORT and cidr in ("0.0.0.0/0", "::/0"):
                    skip_checks(rule, {"CKV_AWS_260": PUBLIC_HTTP_REASON})
        return sg

    def _alb(self) -> Lb:
        props = self._props
        lb_args: dict[str, Any] = {}
        if props.access_logs is not None:
            lb_args["access_logs"] = self._access_logs(props.access_logs)
            assert self.access_logs_bucket is not None  # set by _access_logs
            lb_args["depends_on"] = [self.access_logs_bucket.policy]
        alb = Lb(
            self,
            "Alb",
            name=props.name,
            internal=False,
            load_balancer_type="application",
            security_groups=[self.security_group.id],
            subnets=props.subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=props.deletion_protection,
            idle_timeout=props.idle_timeout_seconds,
            **lb_args,
        )
        skip_checks(alb, self._alb_skips())
        if props.web_acl is not None:
            self.web_acl_association = props.web_acl.associate(alb.arn)
        return alb

    def _alb_skips(self) -> dict[str, str]:
        """The checkov checks this env's choices fail, each with the choice that explains it."""
        props = self._props
        return {
            **(
                {}
                if props.access_logs
                else {
                    "CKV_AWS_91": "access logs are enabled per environment (services_settings."
                    "alb_access_logs); off where the env table chose so"
                }
            ),
            **(
                {}
                if props.deletion_protection
                else {
                    "CKV_AWS_150": "deletion protection is on in prod only (services_settings."
                    "alb_deletion_protection) so short-lived envs can be torn down"
                }
            ),
            **(
                {}
                if props.web_acl
                else {
                    "CKV2_AWS_28": "no WAF in this env (services_settings.waf, on in prod); ALB "
                    "exposure is limited by allowed_cidrs per service"
                }
            ),
            **(
                {}
                if not props.web_acl or props.web_acl.blocks_anonymous_ips
                else {
                    "CKV2_AWS_76": "the web ACL blocks Log4j lookups (known bad inputs, "
                    "CKV_AWS_192 passes); this check also wants the anonymous IP "
                    "list, which turns away VPN users: opt in with "
                    "waf.block_anonymous_ips"
                }
            ),
            **(
                {}
                if self.https
                else {
                    "CKV2_AWS_20": "no certificate in this env, so there is no HTTPS listener to "
                    "redirect to; the redirect appears with one"
                }
            ),
        }

    def _add_target_groups(self, target: AlbTarget, listener_default: bool) -> None:
        pascal = pascal_case(target.name)
        self.target_groups[target.name] = self._target_group(
            f"TargetGroup{pascal}", target.target_group_name, target, listener_default
        )
        if target.alternate_target_group_name:
            self.alternate_target_groups[target.name] = self._target_group(
                f"TargetGroup{pascal}Alternate",
                target.alternate_target_group_name,
                target,
                listener_default=False,
            )

    def _listeners(self, default_group: LbTargetGroup) -> LbListener:
        """The main listener, forwarding to `default_group`: HTTPS (TLS 1.3/1.2) with port 80
        redirecting to it when there is a certificate, else plain HTTP."""
        props = self._props
        if not self.https:
            listener = LbListener(
                self,
                "HttpListener",
                load_balancer_arn=self.alb.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_action=[LbListenerDefaultAction(**_forward(default_group.arn))],
            )
            skip_checks(listener, PLAIN_HTTP_LISTENER_SKIPS)
            return listener
        certificate = props.certificate_arns[0]
        listener = LbListener(
            self,
            "HttpsListener",
            load_balancer_arn=self.alb.arn,
            port=HTTPS_PORT,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate,
            default_action=[LbListenerDefaultAction(**_forward(default_group.arn))],
        )
        self.redirect_listener = LbListener(
            self,
            "HttpListener",
            load_balancer_arn=self.alb.arn,
            port=HTTP_PORT,
            protocol="HTTP",
            default_action=[
                LbListenerDefaultAction(
                    type="redirect",
                    redirect={
                        "port": str(HTTPS_PORT),
                        "protocol": "HTTPS",
                        "status_code": "HTTP_301",
                    },
                )
            ],
        )
        for i, arn in enumerate(dict.fromkeys(props.certificate_arns[1:])):
            if arn != certificate:
                LbListenerCertificate(
                    self, f"ExtraCertificate{i}", listener_arn=listener.arn, certificate_arn=arn
                )
        return listener

    def _path_rules(self) -> None:
        """`/<name>` and `/<name>/*` for every target but the first; a `/*` production rule
        for the first when it shifts traffic."""
        targets = self._props.targets
        for i, target in enumerate(targets[1:]):
            self._rule(
                f"Rule{pascal_case(target.name)}",
                target,
                RULE_PRIORITY_BASE + i,
                (f"/{target.name}", f"/{target.name}/*"),
            )
        first = targets[0]
        if first.alternate_target_group_name:
            # The default service's production rule: ECS reweights rules, not the listener's
            # default action, which `/*` leaves unreachable (ECS Developer Guide, "Application
            # Load Balancer resources for blue/green, linear, and canary deployments").
            self._rule(
                f"ProductionRule{pascal_case(first.name)}", first, CATCH_ALL_PRIORITY, CATCH_ALL
            )

    def _target_group(
        self, construct_id: str, name: str, target: AlbTarget, listener_default: bool
    ) -> LbTargetGroup:
        group = LbTargetGroup(
            self,
            construct_id,
            name=name,
            port=target.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=self._props.vpc_id,
            deregistration_delay=str(DEREGISTRATION_DELAY),
            health_check={
                "enabled": True,
                "path": target.health_check_path,
                "protocol": "HTTP",
                "port": "traffic-port",
                "matcher": "200-399",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
        )
        if not listener_default:
            skip_checks(
                group,
                {
                    "CKV_AWS_378": "TLS ends at the ALB; ALB-to-task traffic stays "
                    "in the VPC and the task SG admits only the ALB "
                    "SG"
                },
            )
        return group

    def _rule(
        self, construct_id: str, target: AlbTarget, priority: int, paths: tuple[str, ...]
    ) -> LbListenerRule:
        """A path rule on the main listener; for a traffic-shifting target, its production
        rule (weighted over both groups, actions left to ECS after creation)."""
        live = self.target_groups[target.name].arn
        shifting = target.name in self.alternate_target_groups
        rule = LbListenerRule(
            self,
            construct_id,
            listener_arn=self.listener.arn,
            priority=priority,
            action=[
                _weighted_forward(live, self.alternate_target_groups[target.name].arn)
                if shifting
                else LbListenerRuleAction(**_forward(live))
            ],
            condition=_paths(paths),
            lifecycle=ECS_OWNS_ACTION if shifting else None,
        )
        self.rules.append(rule)
        if shifting:
            self.production_rules[target.name] = rule
        return rule

    def _traffic_shift_role(self) -> None:
        """The role ECS assumes to move traffic; its trust policy is the documented one, with
        no conditions (ECS Developer Guide, "Amazon ECS infrastructure IAM role for load
        balancers")."""
        self.traffic_shift_role = IamRole(
            self,
            "TrafficShiftRole",
            name=f"{self._props.name}-ecs-shift",
            assume_role_policy=assume_role_policy("ecs.amazonaws.com"),
            description="ECS reweights this ALB's production rules during deployments",
        )
        self.traffic_shift_grant = IamRolePolicyAttachment(
            self,
            "TrafficShiftPolicy",
            role=self.traffic_shift_role.name,
            policy_arn=managed_policy_arn(TRAFFIC_SHIFT_POLICY),
        )

    def _test_listener(self, target: AlbTarget) -> None:
        """A listener on the target's test port, open to its test CIDRs only, whose one rule
        (`/*`, forwarding to the alternate group) ECS points at the new revision first."""
        assert target.test_listener is not None
        certificate = self._props.certificate_arns[0] if self.https else None
        port, pascal = target.test_listener.port, pascal_case(target.name)
        alternate = self.alternate_target_groups[target.name].arn
        tls: dict[str, Any] = (
            {"protocol": "HTTPS", "ssl_policy": TLS_POLICY, "certificate_arn": certificate}
            if certificate
            else {"protocol": "HTTP"}
        )
        # Forward-only, like the production listener: the default action is unreachable
        # behind the `/*` rule.
        listener = LbListener(
            self,
            f"TestListener{pascal}",
            load_balancer_arn=self.alb.arn,
            port=port,
            default_action=[LbListenerDefaultAction(**_forward(alternate))],
            **tls,
        )
        if certificate is None:
            skip_checks(listener, PLAIN_HTTP_LISTENER_SKIPS)
        rule = LbListenerRule(
            self,
            f"TestRule{pascal}",
            listener_arn=listener.arn,
            priority=CATCH_ALL_PRIORITY,
            action=[LbListenerRuleAction(**_forward(alternate))],
            condition=_paths(CATCH_ALL),
            lifecycle=ECS_OWNS_ACTION,
        )
        for index, cidr in enumerate(target.test_listener.allowed_cidrs):
            VpcSecurityGroupIngressRule(
                self,
                f"Ingress{port}TestFrom{index}",
                security_group_id=self.security_group.id,
                description=f"{target.name} test port {port} from {cidr}",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                **_cidr_family(cidr),
            )
        self.test_listeners[target.name] = listener
        self.test_rules[target.name] = rule
        self.rules.append(rule)

    def dependables(self) -> list[TerraformResource]:
        """What a service behind this ALB waits for: its listeners and rules (a target group
        must be attached first) and the traffic-shift role's policy (IAM is eventually
        consistent)."""
        listeners = [self.listener, *self.test_listeners.values()]
        grant = [self.traffic_shift_grant] if self.traffic_shift_grant is not None else []
        return [*listeners, *self.rules, *grant]

    def _traffic_shift(self, name: str) -> TrafficShift:
        """The alternate group, production (and test) rule and role ECS uses for one
        traffic-shifting service (KeyError for a service that rolls)."""
        assert self.traffic_shift_role is not None
        test = self.test_rules.get(name)
        return TrafficShift(
            alternate_target_group_arn=self.alternate_target_groups[name].arn,
            production_listener_rule_arn=self.production_rules[name].arn,
            role_arn=self.traffic_shift_role.arn,
            test_listener_rule_arn=test.arn if test is not None else None,
        )

    def _access_logs(self, logs: AccessLogs) -> dict[str, Any]:
        """SSE-S3 bucket (ALB log delivery cannot use SSE-KMS) writable by ELB log delivery."""
        bucket = logs.bucket_name
        objects = f"arn:{PARTITION}:s3:::{bucket}/{ACCESS_LOG_PREFIX}/AWSLogs/{logs.account_id}/*"
        # Regions launched since 2022 deliver as the service principal; older ones as the
        # regional ELB account, which the provider knows (no hard-coded account table).
        elb_account = DataAwsElbServiceAccount(self, "ElbServiceAccount")
        self.access_logs_bucket = SecureBucket(
            self,
            "AccessLogs",
            SecureBucketProps(
                bucket_name=bucket,
                kms_key_arn=None,
                policy_statements=(
                    statement(
                        ["s3:PutObject"],
                        [objects],
                        sid="ElbLogDelivery",
                        principal={"Service": ELB_LOG_DELIVERY},
                    ),
                    statement(
                        ["s3:PutObject"],
                        [objects],
                        sid="ElbRegionalAccountLogDelivery",
                        principal={"AWS": elb_account.arn},
                    ),
                ),
            ),
        )
        skip_checks(self.access_logs_bucket.bucket, ACCESS_LOG_BUCKET_SKIPS)
        return {
            "bucket": self.access_logs_bucket.name,
            "prefix": ACCESS_LOG_PREFIX,
            "enabled": True,
        }

    def metrics(self, name: str) -> LoadBalancerMetrics:
        """The CloudWatch dimensions of one service's traffic: the ALB's ARN suffix and its
        target groups' (the primary, then the alternate of a traffic-shifting service, either
        of which may carry production traffic after a deployment)."""
        groups = [self.target_groups[name], self.alternate_target_groups.get(name)]
        return LoadBalancerMetrics(
            self.arn_suffix, [group.arn_suffix for group in groups if group is not None]
        )

    def add_target(self, service: EcsService) -> None:
        """Put `service`'s tasks behind the target group(s) of the target named like its
        container: the ALB may reach them on the container port, they admit only the ALB,
        and a traffic-shifting service gets what ECS shifts with (as aws-cdk's
        `ApplicationListener.addTargets`)."""
        name = service.container_name
        target = next((t for t in self._props.targets if t.name == name), None)
        if target is None:
            raise ValueError(f"the ALB has no target {name!r}: name it in props.targets")
        if service.container_port != target.port:
            raise ValueError(
                f"{name}: container port {service.container_port} is not the "
                f"target group port {target.port}"
            )
        service.attach_to_target_group(
            TargetGroupAttachment(
                target_group_arn=self.target_groups[name].arn,
                security_group_id=self.security_group_id,
                depends_on=self.dependables(),
                traffic_shift=(
                    self._traffic_shift(name) if name in self.alternate_target_groups else None
                ),
            )
        )
        egress_to(
            self,
            f"EgressTo{pascal_case(name)}",
            self.security_group.id,
            service.security_group_id,
            target.port,
            f"to {name} tasks",
        )
