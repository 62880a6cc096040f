"""VPC with public and private-with-egress subnets, NAT, flow logs and optional endpoints."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from constructs import Construct

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones,
    DataAwsAvailabilityZonesFilter,
)
from engine.aws.default_security_group import DefaultSecurityGroup
from engine.aws.eip import Eip
from engine.aws.flow_log import FlowLog
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.internet_gateway import InternetGateway
from engine.aws.nat_gateway import NatGateway
from engine.aws.route import Route
from engine.aws.route_table import RouteTable
from engine.aws.route_table_association import RouteTableAssociation
from engine.aws.security_group import SecurityGroup
from engine.aws.subnet import Subnet
from engine.aws.vpc import Vpc
from engine.aws.vpc_endpoint import VpcEndpoint
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from engine.core import Postcondition, TerraformLocal, TerraformResourceLifecycle
from modules.checkov_skips import LOG_GROUP_DEFAULT_ENCRYPTION, retention_skips, skip_checks
from modules.iam import assume_role_policy, policy_json, statement
from modules.secure_bucket import SecureBucket, SecureBucketProps
from settings.naming import PARTITION, pascal_case
from settings.schema import SUBNET_NEWBITS, FlowLogDestination, NatMode

INTERFACE_ENDPOINTS = (
    "ecs",
    "ecs-agent",
    "ecs-telemetry",  # container instances register and report
    "ecr.api",
    "ecr.dkr",  # image pulls (layers come through the S3 gateway)
    "logs",  # awslogs from every container
    "sqs",
    "sns",  # config agents' queues and subscriptions
    "secretsmanager",
    "kms",  # secret values, decrypted
    "appconfigdata",
    "appconfig",  # configuration, and deployment progress
    "sts",  # task and instance role credentials
    "ssm",
    "ssmmessages",
    "ec2messages",  # Session Manager and ECS Exec
)
"""Every AWS API that tasks and container instances call, so none of that traffic (config and
secret values included) crosses the NAT gateway (ECS Developer Guide, "Amazon ECS interface
VPC endpoints"; Secrets Manager, AppConfig, SQS and SNS endpoint guides)."""
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkProps:
    """Everything the network needs, taken from the environment table."""

    name_prefix: str
    """`<env>-platform`, prefix of every name in this construct."""
    account_id: str
    region: str
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    nat_mode: NatMode
    flow_log_destination: FlowLogDestination
    flow_log_retention_days: int
    vpc_endpoints: bool
    zones_setting: str = "availability_zones"
    """Where the settings hold `availability_zones`, for the plan-time error."""


def plan_subnets(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: public take the first `az_count` blocks, private the next."""
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=SUBNET_NEWBITS))
    if len(blocks) < 2 * az_count:
        raise ValueError(f"{vpc_cidr} cannot hold {2 * az_count} subnets")
    return ([str(b) for b in blocks[:az_count]], [str(b) for b in blocks[az_count : 2 * az_count]])


class Network(Construct):
    """VPC spanning N AZs: a public and a private-with-egress subnet in each."""

    def __init__(self, scope: Construct, id_: str, props: NetworkProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        igw = self._vpc()
        self.zone_check = self._check_zones()
        public_cidrs, private_cidrs = plan_subnets(props.vpc_cidr, len(props.availability_zones))
        self.public_subnets: list[Subnet] = []
        self.private_subnets: list[Subnet] = []
        self.private_route_tables: list[RouteTable] = []
        nat_gateways = self._public_subnets(igw, public_cidrs)
        self._private_subnets(private_cidrs, nat_gateways)
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.nat_gateway_count = len(nat_gateways)

        self._flow_logs()
        if props.vpc_endpoints:
            self._endpoints()

    def _vpc(self) -> InternetGateway:
        """The VPC with its default security group stripped; returns its internet gateway."""
        name = self._props.name_prefix
        self.vpc = Vpc(
            self,
            "Vpc",
            cidr_block=self._props.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": f"{name}-vpc"},
        )
        self.vpc_id = self.vpc.id
        # The default SG allows all traffic between its members; strip it so nothing uses it.
        DefaultSecurityGroup(
            self, "DefaultSecurityGroup", vpc_id=self.vpc.id, tags={"Name": f"{name}-default-deny"}
        )
        return InternetGateway(
            self, "InternetGateway", vpc_id=self.vpc.id, tags={"Name": f"{name}-igw"}
        )

    def _public_subnets(self, igw: InternetGateway, cidrs: list[str]) -> list[NatGateway]:
        """One public subnet per AZ routed to the internet gateway, and the NAT gateways (one
        per AZ, or one in the first); returns the NAT gateways."""
        props, name = self._props, self._props.name_prefix
        public_rt = RouteTable(
            self, "PublicRouteTable", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}
        )
        Route(
            self,
            "PublicDefaultRoute",
            route_table_id=public_rt.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=igw.id,
        )
        nat_gateways: list[NatGateway] = []
        for i, az in enumerate(props.availability_zones):
            public = Subnet(
                self,
                f"PublicSubnet{i}",
                vpc_id=self.vpc.id,
                availability_zone=az,
                cidr_block=cidrs[i],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{az}", "Tier": "public"},
            )
            RouteTableAssociation(
                self, f"PublicSubnet{i}Routes", subnet_id=public.id, route_table_id=public_rt.id
            )
            self.public_subnets.append(public)
            if props.nat_mode is NatMode.PER_AZ or i == 0:
                eip = Eip(self, f"NatEip{i}", domain="vpc", tags={"Name": f"{name}-nat-{az}"})
                nat_gateways.append(
                    NatGateway(
                        self,
                        f"NatGateway{i}",
                        allocation_id=eip.id,
                        subnet_id=public.id,
                        depends_on=[igw],
                        tags={"Name": f"{name}-nat-{az}"},
                    )
                )
        return nat_gateways

    def _private_subnets(self, cidrs: list[str], nat_gateways: list[NatGateway]) -> None:
        """One private subnet per AZ, each with a route table whose default route is a NAT."""
        props, name = self._props, self._props.name_prefix
        for i, az in enumerate(props.availability_zones):
            private = Subnet(
                self,
                f"PrivateSubnet{i}",
                vpc_id=self.vpc.id,
                availability_zone=az,
                cidr_block=cidrs[i],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{az}", "Tier": "private"},
            )
            route_table = RouteTable(
                self,
                f"PrivateRouteTable{i}",
                vpc_id=self.vpc.id,
                tags={"Name": f"{name}-private-{az}"},
            )
            nat = nat_gateways[i if props.nat_mode is NatMode.PER_AZ else 0]
            Route(
                self,
                f"PrivateDefaultRoute{i}",
                route_table_id=route_table.id,
                destination_cidr_block=ANYWHERE,
                nat_gateway_id=nat.id,
            )
            RouteTableAssociation(
                self, f"PrivateSubnet{i}Routes", subnet_id=private.id, route_table_id=route_table.id
            )
            self.private_subnets.append(private)
            self.private_route_tables.append(route_table)

    def _check_zones(self) -> DataAwsAvailabilityZones:
        """The AZs the account has in the region, read at plan: an AZ the account lacks (AZ
        letters differ per account; older accounts miss some) fails `terraform plan` naming
        the setting instead of failing the subnet's apply (Terraform "Custom conditions")."""
        props = self._props
        wanted = TerraformLocal(self, "AvailabilityZones", list(props.availability_zones))
        # Filtered by name: a closed set (checkov CKV_AWS_394), the named zones or fewer.
        return DataAwsAvailabilityZones(
            self,
            "AvailableZones",
            state="available",
            filter=[
                DataAwsAvailabilityZonesFilter(
                    name="zone-name", values=list(props.availability_zones)
                )
            ],
            lifecycle=TerraformResourceLifecycle(
                postcondition=[
                    Postcondition(
                        condition=f"${{length(setsubtract({wanted.fqn}, self.names)) == 0}}",
                        error_message=(
                            f"{props.zones_setting}: {', '.join(props.availability_zones)} "
                            "are not all "
                            f"available AZs of {props.region} in this account: pick from `aws ec2 "
                            f"describe-availability-zones --region {props.region}`"
                        ),
                    )
                ]
            ),
        )

    def _flow_logs(self) -> None:
        p = self._props
        if p.flow_log_destination is FlowLogDestination.S3:
            bucket = SecureBucket(
                self,
                "FlowLogBucket",
                SecureBucketProps(
                    bucket_name=f"{p.name_prefix}-flow-logs-{p.account_id}",
                    expiration_days=p.flow_log_retention_days,
                ),
            )
            FlowLog(
                self,
                "FlowLog",
                vpc_id=self.vpc.id,
                traffic_type="ALL",
                log_destination_type="s3",
                log_destination=bucket.arn,
                max_aggregation_interval=60,
            )
            return
        self._flow_logs_to_cloudwatch()

    def _flow_logs_to_cloudwatch(self) -> None:
        p = self._props
        log_group = CloudwatchLogGroup(
            self,
            "FlowLogGroup",
            name=f"/vpc/{p.name_prefix}-flow-logs",
            retention_in_days=p.flow_log_retention_days,
        )
        skip_checks(
            log_group,
            {
                "CKV_AWS_158": LOG_GROUP_DEFAULT_ENCRYPTION,
                **retention_skips(p.flow_log_retention_days),
            },
        )
        role, policy = self._flow_log_role(log_group)
        # IAM is eventually consistent: a flow log created before its role's policy is
        # visible fails delivery with "Access error" until it is recreated.
        FlowLog(
            self,
            "FlowLog",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            depends_on=[policy],
        )

    def _flow_log_role(self, log_group: CloudwatchLogGroup) -> tuple[IamRole, IamRolePolicy]:
        """Trust and permissions as AWS documents them for flow logs to CloudWatch Logs (VPC
        User Guide, "IAM role for publishing flow logs to CloudWatch Logs"), scoped to this
        log group where the action allows it."""
        p = self._props
        role = IamRole(
            self,
            "FlowLogRole",
            name=f"{p.name_prefix}-flow-logs",
            assume_role_policy=assume_role_policy(
                "vpc-flow-logs.amazonaws.com",
                source_account=p.account_id,
                source_arn_like=f"arn:{PARTITION}:ec2:{p.region}:{p.account_id}:vpc-flow-log/*",
            ),
        )
        policy = IamRolePolicy(
            self,
            "FlowLogRolePolicy",
            role=role.id,
            name="write-flow-logs",
            policy=policy_json(
                statement(
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [f"{log_group.arn}:*"],
                    sid="WriteOwnLogGroup",
                ),
                # DescribeLogGroups supports no resource-level scoping.
                statement(["logs:DescribeLogGroups"], ["*"], sid="DescribeLogGroups"),
            ),
        )
        return role, policy

    def _endpoints(self) -> None:
        p = self._props
        endpoint_sg = SecurityGroup(
            self,
            "EndpointSecurityGroup",
            name=f"{p.name_prefix}-endpoints",
            description="HTTPS from inside the VPC to interface endpoints",
            vpc_id=self.vpc.id,
            tags={"Name": f"{p.name_prefix}-endpoints"},
        )
        VpcSecurityGroupIngressRule(
            self,
            "EndpointHttpsIngress",
            security_group_id=endpoint_sg.id,
            description="HTTPS from the VPC",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=p.vpc_cidr,
        )
        for service in INTERFACE_ENDPOINTS:
            VpcEndpoint(
                self,
                f"Endpoint{pascal_case(service)}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{p.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags={"Name": f"{p.name_prefix}-{service}"},
            )
        VpcEndpoint(
            self,
            "EndpointS3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{p.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in self.private_route_tables],
            tags={"Name": f"{p.name_prefix}-s3"},
        )
