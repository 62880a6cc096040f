"""Services stack: every ServiceSpec of the env as an ECS service, plus the ALB and Cloud Map.

Services are data: this stack loops over `env.services`; adding a spec adds its task
definition, service, roles, log group, SGs, autoscaling (and queue, target group, registry as
the spec asks) with no code change.
"""

from __future__ import annotations

from engine.core import TerraformOutput
from constructs import Construct

from modules.ecs_service import EcsService, EcsServiceProps, WorkQueueRef
from modules.load_balancer import AlbTarget, LoadBalancer, LoadBalancerProps, target_group_name
from modules.service_autoscaling import QueueScaling, ServiceAutoscaling, ServiceAutoscalingProps
from modules.service_discovery import ServiceDiscovery, ServiceDiscoveryProps
from modules.work_queue import WorkQueue, WorkQueueProps
from settings.images import CONFIG_AGENT_REPOSITORY
from settings.naming import PLATFORM, resource_name
from settings.schema import EnvironmentSettings
from settings.services import ServiceSpec
from stacks.base import EnvironmentStack
from stacks.cluster import ClusterStack
from stacks.config_pipeline import ConfigPipelineStack
from stacks.network import NetworkStack
from stacks.registry import RegistryStack

DISCOVERY_DOMAIN = "internal"
"""Cloud Map namespace is `<env>.internal`: services resolve `<service>.<env>.internal`."""


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class ServicesStack(EnvironmentStack):
    """ECS services (app + config-agent sidecar), autoscaling, ALB, Cloud Map for one env."""

    kind = "services"

    def __init__(self, scope: Construct, env: EnvironmentSettings, network: NetworkStack,
                 cluster: ClusterStack, pipeline: ConfigPipelineStack,
                 registry: RegistryStack) -> None:
        super().__init__(scope, env)
        settings = env.services_settings
        self.registry = registry
        agent_image = settings.config_agent_image or registry.image(
            CONFIG_AGENT_REPOSITORY, settings.image_tag)

        self.load_balancer = self._load_balancer(env, network)
        self.discovery = (ServiceDiscovery(self, "ServiceDiscovery", ServiceDiscoveryProps(
            namespace=f"{env.name}.{DISCOVERY_DOMAIN}", vpc_id=network.vpc_id))
            if any(s.service_discovery for s in env.services) else None)

        self.services: dict[str, EcsService] = {}
        self.work_queues: dict[str, WorkQueue] = {}
        self.autoscaling: dict[str, ServiceAutoscaling] = {}
        for spec in env.services:
            self._add_service(env, spec, network, cluster, pipeline, agent_image)
        # Second pass: a callee's rules reference its callers' SGs, which must all exist.
        for spec in env.services:
            for caller in spec.allow_from:
                self.services[spec.name].allow_from(self.services[caller])

        if self.load_balancer is not None:
            TerraformOutput(self, "alb_dns_name", value=self.load_balancer.dns_name)
        TerraformOutput(self, "service_names",
                        value=[s.service_name for s in self.services.values()])
        TerraformOutput(self, "log_group_names",
                        value=[s.log_group_name for s in self.services.values()])
        if self.work_queues:
            TerraformOutput(self, "work_queue_urls",
                            value={k: q.url for k, q in self.work_queues.items()})
        databases = {k: s.database_security_group_id for k, s in self.services.items()
                     if s.database_security_group_id is not None}
        if databases:
            TerraformOutput(self, "database_security_group_ids", value=databases)

    def _load_balancer(self, env: EnvironmentSettings,
                       network: NetworkStack) -> LoadBalancer | None:
        """One ALB shared by every service with a load_balancer spec; none if no service has."""
        fronted = [s for s in env.services if s.load_balancer is not None]
        if not fronted:
            return None
        settings = env.services_settings
        cidrs = tuple(dict.fromkeys(c for s in fronted for c in s.load_balancer.allowed_cidrs))
        certificates = tuple(dict.fromkeys(
            s.load_balancer.certificate_arn for s in fronted if s.load_balancer.certificate_arn))
        return LoadBalancer(self, "LoadBalancer", LoadBalancerProps(
            name=resource_name(env.name, PLATFORM, "alb"), account_id=env.account_id,
            vpc_id=network.vpc_id, subnet_ids=network.public_subnet_ids,
            targets=tuple(AlbTarget(name=s.name, target_group_name=target_group_name(
                env.name, s.name), port=s.container_port,
                health_check_path=s.health_check_path) for s in fronted),
            allowed_cidrs=cidrs, certificate_arns=certificates,
            deletion_protection=settings.alb_deletion_protection,
            access_logs_bucket_name=(
                resource_name(env.name, PLATFORM, f"alb-logs-{env.account_id}")
                if settings.alb_access_logs else None)))

    def _add_service(self, env: EnvironmentSettings, spec: ServiceSpec, network: NetworkStack,
                     cluster: ClusterStack, pipeline: ConfigPipelineStack,
                     agent_image: str) -> None:
        settings = env.services_settings
        pascal = _pascal(spec.name)
        work_queue = None
        if spec.work_queue:
            work_queue = WorkQueue(self, f"WorkQueue{pascal}", WorkQueueProps(
                name=resource_name(env.name, spec.name, "jobs"),
                max_receive_count=env.pipeline.dlq_max_receive_count))
            self.work_queues[spec.name] = work_queue
        lb = self.load_balancer if spec.load_balancer is not None else None
        image = spec.image or self.registry.image(spec.name, settings.image_tag)
        service = EcsService(self, f"Service{pascal}", EcsServiceProps(
            env=env.name, account_id=env.account_id, region=env.region, spec=spec,
            image=image, agent_image=agent_image, cluster_arn=cluster.cluster_arn,
            cluster_name=cluster.cluster_name,
            capacity_provider_name=cluster.capacity_provider_name, vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids, config=pipeline.service_config[spec.name],
            log_retention_days=settings.log_retention_days,
            ecs_exec_enabled=settings.ecs_exec_enabled,
            work_queue=(WorkQueueRef(arn=work_queue.arn, url=work_queue.url)
                        if work_queue else None),
            target_group_arn=lb.target_groups[spec.name].arn if lb else None,
            alb_security_group_id=lb.security_group_id if lb else None,
            registry_arn=(self.discovery.register(spec.name)
                          if self.discovery and spec.service_discovery else None),
            depends_on=[lb.listener, *lb.rules] if lb else ()))
        if lb is not None:
            lb.allow_to_service(spec.name, service.security_group_id, spec.container_port)
        self.services[spec.name] = service
        sc = spec.scaling
        self.autoscaling[spec.name] = ServiceAutoscaling(
            self, f"Autoscaling{pascal}", ServiceAutoscalingProps(
                name=service.name, cluster_name=cluster.cluster_name,
                service_name=service.service_name, min_tasks=sc.min_tasks,
                max_tasks=sc.max_tasks, cpu_target_percent=sc.cpu_target_percent,
                memory_target_percent=sc.memory_target_percent,
                queue=(QueueScaling(queue_name=work_queue.name,
                                    scale_out_messages=sc.queue_scale_out_messages,
                                    scale_in_messages=sc.queue_scale_in_messages)
                       if sc.queue_scaling and work_queue is not None else None)))
