"""Services stack: every ServiceSpec of the env as an Ec2Service behind one ALB, Cloud Map
DNS, and (prod) HTTPS at the env's domain and a WAF web ACL; one dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from bench.awscdk.base import EnvStack, pascal, retention
from bench.awscdk.cluster_stack import ClusterStack
from bench.awscdk.config_stack import ConfigStack
from bench.awscdk.envs import EnvPlan
from bench.awscdk.network_stack import NetworkStack
from bench.awscdk.registry_stack import RegistryStack
from bench.awscdk.service import Service, ServiceInputs
from settings.images import CONFIG_AGENT_REPOSITORY
from settings.naming import PLATFORM, resource_name
from settings.schema import HttpsSettings

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
"""As our web ACL: AWS managed rule groups, then a per-IP rate limit."""


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _waf_rules(rate_limit: int) -> list[wafv2.CfnWebACL.RuleProperty]:
    """As our web ACL: the AWS managed rule groups, then a per-IP rate limit."""
    rules = [
        wafv2.CfnWebACL.RuleProperty(
            name=group,
            priority=i,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=_visibility(group),
        )
        for i, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rules.append(
        wafv2.CfnWebACL.RuleProperty(
            name="rate-limit",
            priority=len(rules),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=rate_limit, aggregate_key_type="IP"
                )
            ),
            visibility_config=_visibility("rate-limit"),
        )
    )
    return rules


class ServicesStack(EnvStack):
    """ECS services (app + config-agent sidecar), ALB, Cloud Map for one env."""

    kind = "services"

    def __init__(
        self,
        scope: Construct,
        env: EnvPlan,
        network: NetworkStack,
        cluster: ClusterStack,
        config: ConfigStack,
        registry: RegistryStack,
    ) -> None:
        super().__init__(scope, env)
        self.registry = registry
        settings = env.services_settings
        fronted = [s for s in env.services if s.load_balancer is not None]
        self.alb = self._load_balancer(env, network) if fronted else None
        self.target_groups = {
            s.name: self._target_group(env, network, s, i) for i, s in enumerate(fronted)
        }
        namespace = (
            servicediscovery.PrivateDnsNamespace(
                self, "Namespace", name=f"{env.name}.internal", vpc=network.vpc
            )
            if any(s.service_discovery for s in env.services)
            else None
        )
        agent_image = (
            ecs.ContainerImage.from_registry(settings.config_agent_image)
            if settings.config_agent_image
            else self._image(CONFIG_AGENT_REPOSITORY)
        )
        self.services = {
            spec.name: Service(
                self,
                f"Service{pascal(spec.name)}",
                env,
                spec,
                ServiceInputs(
                    cluster=cluster.cluster,
                    strategies=cluster.strategies,
                    vpc=network.vpc,
                    config=config.service_config[spec.name],
                    app_image=(
                        ecs.ContainerImage.from_registry(spec.image)
                        if spec.image
                        else self._image(spec.name)
                    ),
                    agent_image=agent_image,
                    namespace=namespace,
                    target_group=self.target_groups.get(spec.name),
                    load_balancer=self.alb,
                ),
            )
            for spec in env.services
        }
        for spec in env.services:
            for caller in spec.allow_from:
                self.services[spec.name].allow_from(self.services[caller])
        self._dashboard(env, cluster)

    def _image(self, repository: str) -> ecs.ContainerImage:
        """`<repository>:<released tag>`, the tag read at deploy time from its SSM parameter."""
        build = next(r for r in self.plan.repositories if r.name == repository)
        tag = ssm.StringParameter.value_for_string_parameter(self, build.tag_parameter)
        return ecs.ContainerImage.from_ecr_repository(self.registry.repositories[repository], tag)

    def _load_balancer(self, env: EnvPlan, network: NetworkStack) -> elbv2.ApplicationLoadBalancer:
        settings = env.services_settings
        name = resource_name(env.name, PLATFORM, "alb")
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            internet_facing=True,
            load_balancer_name=name,
            deletion_protection=settings.alb_deletion_protection,
            drop_invalid_header_fields=True,
        )
        if settings.alb_access_logs:
            alb.log_access_logs(
                s3.Bucket(
                    self,
                    "AccessLogs",
                    encryption=s3.BucketEncryption.S3_MANAGED,
                    bucket_name=resource_name(env.name, PLATFORM, f"alb-logs-{env.account}"),
                    block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                    enforce_ssl=True,
                    lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
                )
            )
        not_found = elbv2.ListenerAction.fixed_response(
            404, content_type="text/plain", message_body="not found"
        )
        if settings.https is None:
            self.listener = alb.add_listener("Http", port=80, open=True, default_action=not_found)
        else:
            self.listener = self._https_listener(alb, settings.https, not_found)
        if settings.waf is not None:
            self._web_acl(env, name, alb, settings.waf.rate_limit)
        return alb

    def _target_group(
        self, env: EnvPlan, network: NetworkStack, spec, index: int
    ) -> elbv2.ApplicationTargetGroup:
        """The service's target group, forwarded to by a listener rule; with a
        traffic-shifting deployment also an idle alternate group at weight 0."""

        def group(cid: str, suffix: str) -> elbv2.ApplicationTargetGroup:
            return elbv2.ApplicationTargetGroup(
                self,
                cid,
                vpc=network.vpc,
                port=spec.container_port,
                protocol=elbv2.ApplicationProtocol.HTTP,
                target_type=elbv2.TargetType.IP,
                target_group_name=resource_name(env.name, spec.name, suffix),
                deregistration_delay=Duration.seconds(30),
                health_check=elbv2.HealthCheck(
                    path=spec.health_check_path, healthy_http_codes="200-399"
                ),
            )

        cid = pascal(spec.name)
        live = group(f"{cid}Targets", "tg")
        if spec.deployment.shifts_traffic:
            idle = group(f"{cid}AltTargets", "tg-alt")
            action = elbv2.ListenerAction.weighted_forward(
                [
                    elbv2.WeightedTargetGroup(target_group=live, weight=100),
                    elbv2.WeightedTargetGroup(target_group=idle, weight=0),
                ]
            )
        else:
            action = elbv2.ListenerAction.forward([live])
        self.listener.add_action(
            f"{cid}Rule",
            action=action,
            priority=10 * (index + 1),
            conditions=[elbv2.ListenerCondition.path_patterns(["/*"])],
        )
        return live

    def _web_acl(
        self, env: EnvPlan, name: str, alb: elbv2.ApplicationLoadBalancer, rate_limit: int
    ) -> None:
        rules = _waf_rules(rate_limit)
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=alb.load_balancer_arn, web_acl_arn=acl.attr_arn
        )
        self._waf_logging(env, name, acl)

    def _https_listener(
        self,
        alb: elbv2.ApplicationLoadBalancer,
        https: HttpsSettings,
        default_action: elbv2.ListenerAction,
    ) -> elbv2.ApplicationListener:
        """HTTPS with a DNS-validated certificate at the env's domain, HTTP redirected, and
        the domain's alias record."""
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self,
            "Zone",
            hosted_zone_id=https.hosted_zone_id,
            zone_name=https.domain,
        )
        certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=https.domain,
            validation=acm.CertificateValidation.from_dns(zone),
        )
        listener = alb.add_listener(
            "Https",
            port=443,
            open=True,
            certificates=[certificate],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=default_action,
        )
        alb.add_redirect(source_port=80, target_port=443)
        route53.ARecord(
            self,
            "Alias",
            zone=zone,
            record_name=https.domain,
            target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(alb)),
        )
        return listener

    def _waf_logging(self, env: EnvPlan, name: str, acl: wafv2.CfnWebACL) -> None:
        """The web ACL's log, authorization and cookie headers redacted."""
        log_group = logs.LogGroup(
            self,
            "WafLogs",
            log_group_name=f"aws-waf-logs-{name}",
            retention=retention(env.services_settings.log_retention_days),
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[log_group.log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in ("authorization", "cookie")
            ],
        )

    def _dashboard(self, env: EnvPlan, cluster: ClusterStack) -> None:
        """`<env>-platform-overview`: each service's CPU and memory."""
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=resource_name(env.name, PLATFORM, "overview")
        )
        for service in self.services.values():
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=service.name,
                    left=[
                        service.service.metric_cpu_utilization(),
                        service.service.metric_memory_utilization(),
                    ],
                )
            )
