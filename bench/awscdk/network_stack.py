"""Network stack: VPC with public and private-with-egress subnets, NAT, flow logs, endpoints."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from bench.awscdk.base import EnvStack, pascal, retention
from bench.awscdk.envs import EnvPlan
from settings.naming import PLATFORM, log_group_name


class NetworkStack(EnvStack):
    """The VPC every other stack of the environment lives in (`self.vpc`)."""

    kind = "network"

    def __init__(self, scope: Construct, env: EnvPlan) -> None:
        super().__init__(scope, env)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=log_group_name(env.name, f"{PLATFORM}-flow"),
            retention=retention(env.flow_log_retention_days),
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(env.vpc_cidr),
            availability_zones=list(env.availability_zones),
            nat_gateways=env.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=env.subnet_cidr_mask
                ),
                ec2.SubnetConfiguration(
                    name="private",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=env.subnet_cidr_mask,
                ),
            ],
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
                )
            },
            restrict_default_security_group=True,
        )  # as our DefaultSecurityGroup
        if env.interface_endpoints:
            self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
            endpoints = ec2.SecurityGroup(
                self,
                "Endpoints",
                vpc=self.vpc,
                allow_all_outbound=False,
                description="interface endpoints: HTTPS from the VPC",
            )
            endpoints.add_ingress_rule(ec2.Peer.ipv4(env.vpc_cidr), ec2.Port.tcp(443))
            for name in env.interface_endpoints:
                self.vpc.add_interface_endpoint(
                    pascal(name),
                    service=ec2.InterfaceVpcEndpointAwsService(name),
                    security_groups=[endpoints],
                    open=False,
                    private_dns_enabled=True,
                )
