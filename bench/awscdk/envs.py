"""The AWS CDK comparison app's environment table, derived from `settings/environments.py`.

Stdlib only (no aws_cdk import), so the project's own venv can test it: the comparison stays
fair only while both apps build the same environments (names, accounts, regions, CIDRs, sizes,
services). The fields are what the AWS CDK L2 constructs take, in their shape.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from settings.environments import ENVIRONMENTS, select
from settings.images import built_images
from settings.schema import (
    SUBNET_NEWBITS,
    ClusterSettings,
    EnvironmentSettings,
    NatMode,
    OffHours,
    PipelineSettings,
    ServicesSettings,
)
from settings.services import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]


def _module_constant(path: Path, name: str) -> object:
    """A literal constant of a module, read without importing it (the module imports cdktf)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise LookupError(f"{path} defines no literal {name}")


INTERFACE_ENDPOINTS: tuple[str, ...] = tuple(
    _module_constant(ROOT / "modules" / "network.py", "INTERFACE_ENDPOINTS")
)
"""The interface endpoints our network stack creates where `vpc_endpoints` is on."""


@dataclass(frozen=True)
class Repository:
    """An ECR repository the env builds an image into, and its release-tag parameter."""

    name: str
    tag_parameter: str


@dataclass(frozen=True)
class EnvPlan:
    """One environment as the AWS CDK app builds it."""

    name: str
    account: str
    region: str
    availability_zones: tuple[str, ...]
    tags: dict[str, str]
    vpc_cidr: str
    subnet_cidr_mask: int
    """Our subnets are the VPC CIDR plus SUBNET_NEWBITS bits (/16 -> /20)."""
    nat_gateways: int
    flow_log_retention_days: int
    interface_endpoints: tuple[str, ...]
    cluster: ClusterSettings
    services_settings: ServicesSettings
    pipeline: PipelineSettings
    off_hours: OffHours | None
    repositories: tuple[Repository, ...]
    image_tag: str
    services: tuple[ServiceSpec, ...]


def plan(env: EnvironmentSettings) -> EnvPlan:
    """The AWS CDK app's inputs for one environment of the settings table."""
    net = env.network
    return EnvPlan(
        name=env.name,
        account=env.account_id,
        region=env.region,
        availability_zones=env.availability_zones,
        tags={**env.default_tags, "ManagedBy": "aws-cdk"},
        vpc_cidr=net.vpc_cidr,
        subnet_cidr_mask=int(net.vpc_cidr.split("/")[1]) + SUBNET_NEWBITS,
        nat_gateways=net.az_count if net.nat_mode is NatMode.PER_AZ else 1,
        flow_log_retention_days=net.flow_log_retention_days,
        interface_endpoints=INTERFACE_ENDPOINTS if net.vpc_endpoints else (),
        cluster=env.cluster,
        services_settings=env.services_settings,
        pipeline=env.pipeline,
        off_hours=env.services_settings.off_hours,
        repositories=tuple(Repository(b.repository, b.tag_parameter) for b in built_images(env)),
        image_tag=env.services_settings.image_tag,
        services=env.services,
    )


def plans(table: tuple[EnvironmentSettings, ...] = ENVIRONMENTS) -> list[EnvPlan]:
    """Every environment of the (validated) table: the full synth the bench compares."""
    return [plan(env) for env in select(None, table)]
