"""Cloud Map: one namespace per environment, either private DNS (a registry with A records per
discoverable service) or HTTP for Service Connect (ECS registers the services itself)."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from engine.aws.service_discovery_http_namespace import (
    ServiceDiscoveryHttpNamespace,
)
from engine.aws.service_discovery_private_dns_namespace import (
    ServiceDiscoveryPrivateDnsNamespace,
)
from engine.aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
)
from settings.naming import pascal_case

DNS_TTL_SECONDS = 10
"""Short, so clients stop resolving a stopped task's IP quickly."""


@dataclass(frozen=True)
class ServiceDiscoveryProps:
    """Namespace domain (e.g. `dev.internal`) and the VPC it resolves in."""

    namespace: str
    vpc_id: str


class ServiceDiscovery(Construct):
    """Private DNS namespace; `register(name)` adds `<name>.<namespace>` A records (awsvpc IPs)."""

    def __init__(self, scope: Construct, id_: str, props: ServiceDiscoveryProps) -> None:
        super().__init__(scope, id_)
        if "." not in props.namespace:
            raise ValueError(f"namespace {props.namespace!r} must be a domain, e.g. dev.internal")
        self.namespace = ServiceDiscoveryPrivateDnsNamespace(
            self,
            "Namespace",
            name=props.namespace,
            vpc=props.vpc_id,
            description="Private service discovery for ECS services",
        )
        self.namespace_id = self.namespace.id
        self.namespace_name = props.namespace
        self.services: dict[str, ServiceDiscoveryService] = {}

    def register(self, name: str) -> str:
        """Create the service registry for one ECS service; returns its ARN."""
        registry = ServiceDiscoveryService(
            self,
            f"Service{pascal_case(name)}",
            name=name,
            dns_config={
                "namespace_id": self.namespace.id,
                "routing_policy": "MULTIVALUE",
                "dns_records": [
                    ServiceDiscoveryServiceDnsConfigDnsRecords(ttl=DNS_TTL_SECONDS, type="A")
                ],
            },
            # ECS reports task health to Cloud Map; unhealthy tasks are deregistered.
            health_check_custom_config={},
        )
        self.services[name] = registry
        return registry.arn


class ServiceConnectNamespace(Construct):
    """The HTTP namespace Service Connect services register in (`<env>.internal`): clients
    resolve `<service>.<env>.internal` through their own Service Connect proxy, not DNS."""

    def __init__(self, scope: Construct, id_: str, props: ServiceDiscoveryProps) -> None:
        super().__init__(scope, id_)
        if "." not in props.namespace:
            raise ValueError(f"namespace {props.namespace!r} must be a domain, e.g. dev.internal")
        self.namespace = ServiceDiscoveryHttpNamespace(
            self,
            "Namespace",
            name=props.namespace,
            description="Service Connect namespace for ECS services",
        )
        self.arn = self.namespace.arn
        self.namespace_name = props.namespace
