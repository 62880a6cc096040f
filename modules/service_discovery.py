"""Cloud Map: one private DNS namespace per environment, one registry per discoverable service."""

from __future__ import annotations

from dataclasses import dataclass

from engine.aws.service_discovery_private_dns_namespace import (
    ServiceDiscoveryPrivateDnsNamespace,
)
from engine.aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
)
from constructs import Construct

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
            self, "Namespace", name=props.namespace, vpc=props.vpc_id,
            description="Private service discovery for ECS services")
        self.namespace_id = self.namespace.id
        self.namespace_name = props.namespace
        self.services: dict[str, ServiceDiscoveryService] = {}

    def register(self, name: str) -> str:
        """Create the service registry for one ECS service; returns its ARN."""
        registry = ServiceDiscoveryService(
            self, "Service" + "".join(p.capitalize() for p in name.split("-")), name=name,
            dns_config={"namespace_id": self.namespace.id, "routing_policy": "MULTIVALUE",
                        "dns_records": [ServiceDiscoveryServiceDnsConfigDnsRecords(
                            ttl=DNS_TTL_SECONDS, type="A")]},
            # ECS reports task health to Cloud Map; unhealthy tasks are deregistered.
            health_check_custom_config={})
        self.services[name] = registry
        return registry.arn
