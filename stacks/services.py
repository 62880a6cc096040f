"""Services stack: every ServiceSpec of the env as an ECS service, plus the ALB and Cloud Map.

Services are data: this stack loops over `env.services`; adding a spec adds its task
definition, service, roles, log group, SGs, autoscaling (and queue, target group, registry as
the spec asks) with no code change. The stack translates each spec into construct props and
wires the constructs with their methods; the constructs never see the settings.
"""

from __future__ import annotations

from constructs import Construct

from engine.aws.data_aws_ssm_parameter import DataAwsSsmParameter
from engine.core import TerraformOutput
from modules.dashboard import DashboardProps, EnvironmentDashboard
from modules.ecs_service import EcsService, EcsServiceProps, TaskPlacement
from modules.load_balancer import (
    AccessLogs,
    AlbTarget,
    LoadBalancer,
    LoadBalancerProps,
    target_group_name,
)
from modules.opensearch_delivery import (
    OpenSearchDelivery,
    OpenSearchDeliveryProps,
    OpenSearchTarget,
    VpcDelivery,
)
from modules.public_endpoint import PublicEndpoint, PublicEndpointProps
from modules.service_alarms import ServiceAlarms, ServiceAlarmsProps
from modules.service_autoscaling import ServiceAutoscaling, ServiceAutoscalingProps
from modules.service_discovery import (
    ServiceConnectNamespace,
    ServiceDiscovery,
    ServiceDiscoveryProps,
)
from modules.task_definition import ConfigAgentSidecar, ContainerProps, FirehoseLogRouting
from modules.web_acl import WebAcl, WebAclProps
from modules.work_queue import WorkQueue, WorkQueueProps
from settings.capacity import service_architecture
from settings.images import CONFIG_AGENT_REPOSITORY, built_images
from settings.naming import PLATFORM, pascal_case, resource_name
from settings.schema import EnvironmentSettings, HttpsSettings, WafSettings
from settings.services import ServiceSpec
from stacks.base import EnvironmentStack
from stacks.cluster import ClusterStack
from stacks.config_pipeline import ConfigPipelineStack
from stacks.network import NetworkStack
from stacks.registry import RegistryStack

DISCOVERY_DOMAIN = "internal"
"""Cloud Map namespace is `<env>.internal`: services resolve `<service>.<env>.internal`."""


class ServicesStack(EnvironmentStack):
    """ECS services (app + config-agent sidecar), autoscaling, ALB, Cloud Map for one env."""

    kind = "services"

    def __init__(
        self,
        scope: Construct,
        env: EnvironmentSettings,
        network: NetworkStack,
        cluster: ClusterStack,
        pipeline: ConfigPipelineStack,
        registry: RegistryStack,
    ) -> None:
        super().__init__(scope, env)
        self.registry = registry
        self._builds = {build.repository: build for build in built_images(env)}
        self._agent_image = env.services_settings.config_agent_image or self._built_image(
            CONFIG_AGENT_REPOSITORY
        )
        self.load_balancer = self._load_balancer(env, network)
        self.log_export = self._log_export(env, network)
        self._namespaces(env, network)
        self.services: dict[str, EcsService] = {}
        self.work_queues: dict[str, WorkQueue] = {}
        self.autoscaling: dict[str, ServiceAutoscaling] = {}
        self.alarms: dict[str, ServiceAlarms] = {}
        for spec in env.services:
            self._add_service(spec, network, cluster, pipeline)
        # Second pass: a callee's rules reference its callers' SGs, which must all exist.
        for spec in env.services:
            for caller in spec.allow_from:
                self.services[spec.name].allow_from(self.services[caller])
        self.dashboard = self._dashboard(env, cluster, pipeline)
        self._outputs()

    def _add_service(
        self,
        spec: ServiceSpec,
        network: NetworkStack,
        cluster: ClusterStack,
        pipeline: ConfigPipelineStack,
    ) -> None:
        """The spec's service, wired to the ALB, its namespace and its database, with its
        deployment alarms and autoscaling."""
        work_queue = self._work_queue(spec)
        architecture = service_architecture(spec, self.env.cluster)
        service = EcsService(
            self,
            f"Service{pascal_case(spec.name)}",
            EcsServiceProps(
                env=self.env.name,
                name=spec.name,
                cluster=cluster.ref,
                placement=TaskPlacement(
                    vpc_id=network.vpc_id,
                    subnet_ids=network.private_subnet_ids,
                    capacity_provider_strategy=cluster.strategies[architecture],
                    architecture=architecture,
                ),
                container=self._container(spec),
                agent=ConfigAgentSidecar(self._agent_image, pipeline.service_config[spec.name]),
                desired_count=spec.desired_count,
                deployment=spec.deployment,
                log_retention_days=self.env.services_settings.log_retention_days,
                work_queue=work_queue,
            ),
        )
        if spec.load_balancer is not None:
            self._fronting(spec).add_target(service)
        if self.service_connect is not None:
            service.enable_service_connect(self.service_connect)
        elif spec.service_discovery:
            service.enable_cloud_map(self._cloud_map())
        if spec.database_port is not None:
            service.add_database(spec.database_port)
        self.services[spec.name] = service
        self.alarms[spec.name] = self._alarms(spec, service, work_queue)
        self.autoscaling[spec.name] = self._autoscale(spec, service, work_queue)

    def _container(self, spec: ServiceSpec) -> ContainerProps:
        """The spec's app container; with Service Connect a discoverable service names its
        port, which the namespace then serves."""
        serves = self.service_connect is not None and spec.service_discovery
        return ContainerProps(
            image=spec.image or self._built_image(spec.name),
            cpu=spec.cpu,
            memory=spec.memory,
            port=spec.container_port,
            port_name=spec.name if serves else None,
            environment=spec.environment,
            health_check=spec.health_check,
            command=spec.command,
            entry_point=spec.entry_point,
            files_path=spec.config_files_path,
            log_routing=self._log_routing(spec),
        )

    def _log_routing(self, spec: ServiceSpec) -> FirehoseLogRouting | None:
        """FireLens to the env's log export stream for a spec with `export_logs`."""
        if not spec.export_logs:
            return None
        assert self.log_export is not None, f"{spec.name}: no log export stream was built"
        return FirehoseLogRouting(
            delivery_stream=self.log_export.name, grant=self.log_export.grant_put_records()
        )

    def _log_export(
        self, env: EnvironmentSettings, network: NetworkStack
    ) -> OpenSearchDelivery | None:
        """`<env>-platform-logs`: the Firehose stream into the env's OpenSearch destination,
        when `services_settings.log_export` is set and a service exports its logs (an export
        of flow logs only needs no stream: the network stack builds that pipeline)."""
        export = env.services_settings.log_export
        if export is None or not any(s.export_logs for s in env.services):
            return None
        vpc = (
            VpcDelivery(
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                vpc_cidr=network.vpc_cidr,
                domain_security_group_id=export.vpc.domain_security_group_id,
            )
            if export.vpc is not None
            else None
        )
        delivery = OpenSearchDelivery(
            self,
            "LogExport",
            OpenSearchDeliveryProps(
                name=resource_name(env.name, PLATFORM, "logs"),
                account_id=env.account_id,
                region=env.region,
                vpc=vpc,
                target=OpenSearchTarget(
                    arn=export.arn,
                    index=export.index,
                    collection_endpoint=export.collection_endpoint,
                    index_rotation=export.index_rotation.value,
                ),
                backup_retention_days=export.backup_retention_days,
                error_log_retention_days=env.services_settings.log_retention_days,
                buffer_interval_seconds=export.buffer_interval_seconds,
            ),
        )
        TerraformOutput(self, "log_export_stream", value=delivery.name)
        TerraformOutput(self, "log_export_role_arn", value=delivery.role_arn)
        if delivery.security_group_id is not None:
            TerraformOutput(self, "log_export_security_group_id", value=delivery.security_group_id)
        return delivery

    def _work_queue(self, spec: ServiceSpec) -> WorkQueue | None:
        if not spec.work_queue:
            return None
        queue = self.work_queues[spec.name] = WorkQueue(
            self,
            f"WorkQueue{pascal_case(spec.name)}",
            WorkQueueProps(
                name=resource_name(self.env.name, spec.name, "jobs"),
                max_receive_count=self.env.pipeline.dlq_max_receive_count,
            ),
        )
        return queue

    def _fronting(self, spec: ServiceSpec) -> LoadBalancer:
        """The ALB in front of a spec with a load_balancer (there is one whenever one has)."""
        assert self.load_balancer is not None, f"{spec.name}: no ALB was built"
        return self.load_balancer

    def _cloud_map(self) -> ServiceDiscovery:
        assert self.discovery is not None, "no Cloud Map namespace was built"
        return self.discovery

    def _alarms(
        self, spec: ServiceSpec, service: EcsService, work_queue: WorkQueue | None
    ) -> ServiceAlarms:
        """The alarms its deployments roll back on: every service's, its ALB's, its queue's."""
        topic = self.env.pipeline.alarm_topic_arn
        alarms = ServiceAlarms(
            self,
            f"Alarms{pascal_case(spec.name)}",
            ServiceAlarmsProps(
                service=service, thresholds=spec.alarms, actions=(topic,) if topic else ()
            ),
        )
        if spec.load_balancer is not None:
            alarms.watch_target_groups(self._fronting(spec).metrics(spec.name))
        if work_queue is not None:
            alarms.watch_queue(work_queue)
        service.enable_deployment_alarms(alarms.alarm_names)
        return alarms

    def _autoscale(
        self, spec: ServiceSpec, service: EcsService, work_queue: WorkQueue | None
    ) -> ServiceAutoscaling:
        sc = spec.scaling
        scaling = ServiceAutoscaling(
            self,
            f"Autoscaling{pascal_case(spec.name)}",
            ServiceAutoscalingProps(
                service=service,
                min_tasks=sc.min_tasks,
                max_tasks=sc.max_tasks,
                cpu_target_percent=sc.cpu_target_percent,
                memory_target_percent=sc.memory_target_percent,
            ),
        )
        if sc.queue_scaling and work_queue is not None:
            scaling.scale_on_backlog(work_queue, sc.backlog_per_task)
        if sc.requests_per_target is not None and spec.load_balancer is not None:
            scaling.scale_on_requests(
                self._fronting(spec).metrics(spec.name), sc.requests_per_target
            )
        off = self.env.services_settings.off_hours
        if off is not None:
            # Backlog per task divides by running tasks: a queue worker keeps one.
            floor = 1 if sc.queue_scaling else 0
            scaling.scale_on_schedule(
                scale_in_at=off.scale_in_at,
                scale_out_at=off.scale_out_at,
                timezone=off.timezone,
                off_hours_min_tasks=max(off.min_tasks, floor),
            )
        return scaling

    def _namespaces(self, env: EnvironmentSettings, network: NetworkStack) -> None:
        """`<env>.internal`: an HTTP namespace for Service Connect, or a private DNS namespace
        when some service is discoverable; neither otherwise."""
        namespace = ServiceDiscoveryProps(
            namespace=f"{env.name}.{DISCOVERY_DOMAIN}", vpc_id=network.vpc_id
        )
        self.discovery: ServiceDiscovery | None = None
        self.service_connect: ServiceConnectNamespace | None = None
        if env.services_settings.service_connect:
            self.service_connect = ServiceConnectNamespace(self, "ServiceConnect", namespace)
        elif any(s.service_discovery for s in env.services):
            self.discovery = ServiceDiscovery(self, "ServiceDiscovery", namespace)

    def _dashboard(
        self, env: EnvironmentSettings, cluster: ClusterStack, pipeline: ConfigPipelineStack
    ) -> EnvironmentDashboard:
        """`<env>-platform-overview`: the cluster, then each service, then the config events."""
        dashboard = EnvironmentDashboard(
            self,
            "Dashboard",
            DashboardProps(name=resource_name(env.name, PLATFORM, "overview"), region=env.region),
        )
        dashboard.add_cluster(cluster.cluster_name, cluster.capacity_provider_names)
        for spec in env.services:
            queue = self.work_queues.get(spec.name)
            dashboard.add_service(
                self.services[spec.name].name,
                cluster.cluster_name,
                load_balancer=(
                    self._fronting(spec).metrics(spec.name)
                    if spec.load_balancer is not None
                    else None
                ),
                queue_name=queue.name if queue is not None else None,
                alarm_arns=self.alarms[spec.name].alarm_arns,
            )
        events = [pipeline.event_names[spec.name] for spec in env.services]
        dashboard.add_config_events(
            [e.dlq for e in events],
            [e.topic for e in events],
            [rule for e in events for rule in e.rules],
        )
        return dashboard

    def _outputs(self) -> None:
        if self.load_balancer is not None:
            TerraformOutput(self, "alb_dns_name", value=self.load_balancer.dns_name)
        if self.endpoint is not None:
            TerraformOutput(self, "url", value=f"https://{self.endpoint.domain}")
        TerraformOutput(
            self, "service_names", value=[s.service_name for s in self.services.values()]
        )
        TerraformOutput(
            self, "log_group_names", value=[s.log_group_name for s in self.services.values()]
        )
        if self.work_queues:
            TerraformOutput(
                self, "work_queue_urls", value={k: q.url for k, q in self.work_queues.items()}
            )
        databases = {
            k: s.database_security_group_id
            for k, s in self.services.items()
            if s.database_security_group_id is not None
        }
        if databases:
            TerraformOutput(self, "database_security_group_ids", value=databases)

    def _built_image(self, repository: str) -> str:
        """`<repository url>:<released tag>`, the tag read at plan time from the image's release
        parameter: a release changes the task definition in this stack's plan, not behind it."""
        build = self._builds[repository]
        tag = DataAwsSsmParameter(
            self, f"ReleasedTag{pascal_case(repository)}", name=build.tag_parameter
        )
        return self.registry.image(repository, tag.insecure_value)

    def _load_balancer(
        self, env: EnvironmentSettings, network: NetworkStack
    ) -> LoadBalancer | None:
        """One ALB shared by every service with a load_balancer spec; none if no service has.
        With `https`, a DNS-validated certificate and an alias record; with `waf`, a web ACL."""
        self.endpoint: PublicEndpoint | None = None
        self.web_acl: WebAcl | None = None
        fronted = [s for s in env.services if s.load_balancer is not None]
        specs = [spec for s in fronted if (spec := s.load_balancer) is not None]
        if not fronted:
            return None
        settings = env.services_settings
        name = resource_name(env.name, PLATFORM, "alb")
        cidrs = tuple(dict.fromkeys(c for spec in specs for c in spec.allowed_cidrs))
        certificates = tuple(
            dict.fromkeys(spec.certificate_arn for spec in specs if spec.certificate_arn)
        )
        if settings.https is not None:
            self.endpoint = self._public_endpoint(env.name, settings.https)
            certificates = (self.endpoint.certificate_arn, *certificates)
        if settings.waf is not None:
            self.web_acl = self._web_acl(name, settings.waf, settings.log_retention_days)
        lb = LoadBalancer(
            self,
            "LoadBalancer",
            LoadBalancerProps(
                name=name,
                vpc_id=network.vpc_id,
                subnet_ids=network.public_subnet_ids,
                targets=tuple(_alb_target(env.name, s) for s in fronted),
                allowed_cidrs=cidrs,
                certificate_arns=certificates,
                deletion_protection=settings.alb_deletion_protection,
                access_logs=(
                    AccessLogs(
                        resource_name(env.name, PLATFORM, f"alb-logs-{env.account_id}"),
                        env.account_id,
                    )
                    if settings.alb_access_logs
                    else None
                ),
                web_acl=self.web_acl,
            ),
        )
        if self.endpoint is not None:
            self.endpoint.point_at(lb.dns_name, lb.zone_id)
        return lb

    def _public_endpoint(self, env_name: str, https: HttpsSettings) -> PublicEndpoint:
        """A DNS-validated certificate for the env's domain and (once pointed) its alias."""
        return PublicEndpoint(
            self,
            "PublicEndpoint",
            PublicEndpointProps(
                domain=https.domain,
                hosted_zone_id=https.hosted_zone_id,
                setting=f"environment {env_name!r}: services_settings.https",
            ),
        )

    def _web_acl(self, name: str, waf: WafSettings, log_retention_days: int) -> WebAcl:
        """The ALB's web ACL: managed rule groups and a per-IP rate limit, logged."""
        return WebAcl(
            self,
            "WebAcl",
            WebAclProps(
                name=name,
                rate_limit=waf.rate_limit,
                log_retention_days=log_retention_days,
                block_anonymous_ips=waf.block_anonymous_ips,
            ),
        )


def _alb_target(env: str, spec: ServiceSpec) -> AlbTarget:
    """A fronted spec's target: its port and health check path; a traffic-shifting spec also
    gets an alternate target group `<env>-<service>-alt` and its test listener, if any."""
    assert spec.container_port is not None and spec.health_check_path is not None
    return AlbTarget(
        name=spec.name,
        target_group_name=target_group_name(env, spec.name),
        port=spec.container_port,
        health_check_path=spec.health_check_path,
        alternate_target_group_name=(
            target_group_name(env, f"{spec.name}-alt") if spec.deployment.shifts_traffic else None
        ),
        test_listener=spec.deployment.test_listener,
    )
