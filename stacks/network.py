"""Network stack: the VPC every other stack of the environment lives in."""

from __future__ import annotations

from constructs import Construct

from engine.core import TerraformOutput
from modules.flow_log_ingestion import FlowLogIngestion, FlowLogIngestionProps
from modules.network import Network, NetworkProps
from modules.opensearch_delivery import OpenSearchTarget, VpcDelivery
from settings.naming import PLATFORM, resource_name
from settings.schema import EnvironmentSettings
from stacks.base import EnvironmentStack


class NetworkStack(EnvironmentStack):
    """VPC, subnets, NAT, flow logs, endpoints; exposes ids to the other stacks."""

    kind = "network"

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, env)
        net = env.network
        self.network = Network(
            self,
            "Network",
            NetworkProps(
                name_prefix=f"{env.name}-{PLATFORM}",
                account_id=env.account_id,
                region=env.region,
                vpc_cidr=net.vpc_cidr,
                availability_zones=env.availability_zones,
                nat_mode=net.nat_mode,
                flow_log_destination=net.flow_log_destination,
                flow_log_retention_days=net.flow_log_retention_days,
                vpc_endpoints=net.vpc_endpoints,
                zones_setting=f"environment {env.name!r}: availability_zones",
            ),
        )
        self.vpc_id = self.network.vpc_id
        self.vpc_cidr = net.vpc_cidr
        self.public_subnet_ids = self.network.public_subnet_ids
        self.private_subnet_ids = self.network.private_subnet_ids
        TerraformOutput(self, "vpc_id", value=self.vpc_id)
        TerraformOutput(self, "public_subnet_ids", value=self.public_subnet_ids)
        TerraformOutput(self, "private_subnet_ids", value=self.private_subnet_ids)
        self.flow_log_export = self._flow_log_export(env)

    def _flow_log_export(self, env: EnvironmentSettings) -> FlowLogIngestion | None:
        """Flow logs into the env's OpenSearch destination when `log_export.flow_logs` is on.

        Here, not in the services stack beside the Firehose stream: the network owns the VPC
        and its flow logs, and every input is either its own (VPC, subnets) or a setting (the
        destination), so no stack reference is added; reusing the services stack's backup
        bucket would make this stack depend on one that depends on it (a cycle)."""
        export = env.services_settings.log_export
        if export is None or not export.flow_logs:
            return None
        vpc = (
            VpcDelivery(
                vpc_id=self.vpc_id,
                subnet_ids=self.private_subnet_ids,
                vpc_cidr=self.vpc_cidr,
                domain_security_group_id=export.vpc.domain_security_group_id,
            )
            if export.vpc is not None
            else None
        )
        endpoint = export.collection_endpoint or export.domain_endpoint
        assert endpoint is not None, "settings/log_export.py requires the endpoint"
        ingestion = FlowLogIngestion(
            self,
            "FlowLogExport",
            FlowLogIngestionProps(
                # OpenSearch Ingestion pipeline names are 3-28 characters: `<env>-platform-...`
                # would not fit a 16-character env name.
                name=resource_name(env.name, PLATFORM, "flowlogs"),
                pipeline_name=f"{env.name}-flowlogs",
                account_id=env.account_id,
                region=env.region,
                vpc_id=self.vpc_id,
                vpc=vpc,
                endpoint=endpoint,
                target=OpenSearchTarget(
                    arn=export.arn,
                    index=export.index,
                    collection_endpoint=export.collection_endpoint,
                ),
                min_units=export.flow_log_min_units,
                max_units=export.flow_log_max_units,
                retention_days=export.backup_retention_days,
                log_retention_days=env.network.flow_log_retention_days,
            ),
        )
        TerraformOutput(self, "flow_log_pipeline_arn", value=ingestion.pipeline_arn)
        TerraformOutput(self, "flow_log_pipeline_role_arn", value=ingestion.role_arn)
        if ingestion.security_group_id is not None:
            TerraformOutput(
                self, "flow_log_pipeline_security_group_id", value=ingestion.security_group_id
            )
        return ingestion
