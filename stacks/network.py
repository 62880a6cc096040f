"""Network stack: the VPC every other stack of the environment lives in."""

from __future__ import annotations

from engine.core import TerraformOutput
from constructs import Construct

from modules.network import Network, NetworkProps
from settings.naming import PLATFORM
from settings.schema import EnvironmentSettings
from stacks.base import EnvironmentStack


class NetworkStack(EnvironmentStack):
    """VPC, subnets, NAT, flow logs, endpoints; exposes ids to the other stacks."""

    kind = "network"

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, env)
        net = env.network
        self.network = Network(self, "Network", NetworkProps(
            name_prefix=f"{env.name}-{PLATFORM}", account_id=env.account_id, region=env.region,
            vpc_cidr=net.vpc_cidr, availability_zones=env.availability_zones,
            nat_mode=net.nat_mode, flow_log_destination=net.flow_log_destination,
            flow_log_retention_days=net.flow_log_retention_days,
            vpc_endpoints=net.vpc_endpoints,
            zones_setting=f"environment {env.name!r}: availability_zones"))
        self.vpc_id = self.network.vpc_id
        self.vpc_cidr = net.vpc_cidr
        self.public_subnet_ids = self.network.public_subnet_ids
        self.private_subnet_ids = self.network.private_subnet_ids
        TerraformOutput(self, "vpc_id", value=self.vpc_id)
        TerraformOutput(self, "public_subnet_ids", value=self.public_subnet_ids)
        TerraformOutput(self, "private_subnet_ids", value=self.private_subnet_ids)
