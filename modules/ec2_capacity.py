"""EC2 capacity for ECS: instance role, launch template, ASG and a managed capacity provider."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Sequence

from engine.core import ITerraformDependable, TerraformResourceLifecycle, Token
from engine.aws.autoscaling_group import AutoscalingGroup, AutoscalingGroupTag
from engine.aws.data_aws_ssm_parameter import DataAwsSsmParameter
from engine.aws.ecs_capacity_provider import EcsCapacityProvider
from engine.aws.iam_instance_profile import IamInstanceProfile
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy_attachment import IamRolePolicyAttachment
from engine.aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from constructs import Construct

from modules.checkov_skips import skip_checks
from modules.iam import assume_role_policy, managed_policy_arn

ECS_AMI_PARAMETERS = {
    "x86_64": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    "arm64": "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
}
"""Public SSM parameters with the current ECS-optimized Amazon Linux 2023 AMI id per CPU
architecture (ECS Developer Guide, "Retrieving Amazon ECS-optimized Linux AMI metadata")."""
INSTANCE_MANAGED_POLICIES = (
    "service-role/AmazonEC2ContainerServiceforEC2Role",
    "AmazonSSMManagedInstanceCore",
    "CloudWatchAgentServerPolicy",
)
IMDS_HOP_LIMIT = 2
"""2 lets containers in bridge mode reach IMDSv2 through the extra network hop; awsvpc tasks
are blocked from IMDS by ECS_AWSVPC_BLOCK_IMDS in user data."""
CWAGENT_NAMESPACE = "CWAgent"
INSTANCE_WARMUP_SECONDS = 300
ROOT_DEVICE = "/dev/xvda"


@dataclass(frozen=True)
class Ec2CapacityProps:
    """Instance sizing and placement for the cluster's Auto Scaling group."""

    name_prefix: str
    account_id: str
    cluster_name: str
    vpc_id: str
    subnet_ids: Sequence[str]
    instance_type: str
    architecture: str
    """`x86_64` or `arm64` (settings.rules.instance_architecture): picks the AMI."""
    min_size: int
    max_size: int
    desired_capacity: int
    root_volume_gb: int
    target_capacity_percent: int
    min_scaling_step: int
    max_scaling_step: int
    launch_after: Sequence[ITerraformDependable] = ()
    """Resources instances must not register before, e.g. the account's awsvpcTrunking
    default (it applies only to instances registered after it is set)."""


def cloudwatch_agent_config() -> dict:
    """Host metrics and the ECS agent log, published to the CWAgent namespace."""
    return {
        "agent": {"metrics_collection_interval": 60, "run_as_user": "cwagent"},
        "metrics": {
            "namespace": CWAGENT_NAMESPACE,
            "append_dimensions": {"AutoScalingGroupName": "${aws:AutoScalingGroupName}",
                                  "InstanceId": "${aws:InstanceId}"},
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": ["/"]},
                "swap": {"measurement": ["swap_used_percent"]},
            },
        },
        "logs": {"logs_collected": {"files": {"collect_list": [{
            "file_path": "/var/log/ecs/ecs-agent.log",
            "log_group_name": "/ec2/ecs-agent",
            "log_stream_name": "{instance_id}",
            "retention_in_days": 30,
        }]}}},
    }


def render_user_data(cluster_name: str) -> str:
    """Shell script run at first boot: join the cluster, start the CloudWatch agent."""
    config = json.dumps(cloudwatch_agent_config(), indent=2)
    return f"""#!/bin/bash
set -euo pipefail
cat >> /etc/ecs/ecs.config <<'ECSCONFIG'
ECS_CLUSTER={cluster_name}
ECS_AWSVPC_BLOCK_IMDS=true
ECS_ENABLE_CONTAINER_METADATA=true
ECS_CONTAINER_STOP_TIMEOUT=30s
ECSCONFIG
dnf install -y amazon-cloudwatch-agent
cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CWCONFIG'
{config}
CWCONFIG
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 \\
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json -s
"""


class Ec2Capacity(Construct):
    """Private, SSH-less ECS container instances behind a managed-scaling capacity provider."""

    def __init__(self, scope: Construct, id_: str, props: Ec2CapacityProps) -> None:
        super().__init__(scope, id_)
        name = props.name_prefix
        if props.architecture not in ECS_AMI_PARAMETERS:
            raise ValueError(f"architecture {props.architecture!r} must be one of "
                             f"{sorted(ECS_AMI_PARAMETERS)}")
        # The trust AWS documents for the ECS container instance role ("Amazon ECS container
        # instance IAM role"): no conditions. EC2 sends no aws:SourceAccount when it fetches
        # instance-profile credentials, so such a condition would leave instances without
        # credentials, unable to join the cluster.
        self.role = IamRole(self, "InstanceRole", name=f"{name}-ecs-instance",
                            assume_role_policy=assume_role_policy("ec2.amazonaws.com"))
        for policy in INSTANCE_MANAGED_POLICIES:
            IamRolePolicyAttachment(self, "Attach" + policy.split("/")[-1], role=self.role.name,
                                    policy_arn=managed_policy_arn(policy))
        self.instance_profile = IamInstanceProfile(self, "InstanceProfile",
                                                   name=f"{name}-ecs-instance",
                                                   role=self.role.name)
        # No ingress at all: tasks get their own ENIs and SGs (awsvpc); people use SSM.
        self.security_group = SecurityGroup(
            self, "InstanceSecurityGroup", name=f"{name}-ecs-instances", vpc_id=props.vpc_id,
            description="ECS container instances: no ingress, egress for ECS/ECR/SSM",
            tags={"Name": f"{name}-ecs-instances"})
        VpcSecurityGroupEgressRule(self, "InstanceEgress", security_group_id=self.security_group.id,
                                   description="ECS, ECR, SSM, CloudWatch and package repos",
                                   ip_protocol="-1", cidr_ipv4="0.0.0.0/0")
        self.security_group_id = self.security_group.id
        ami = DataAwsSsmParameter(self, "EcsAmi",
                                  name=ECS_AMI_PARAMETERS[props.architecture])
        self.launch_template = LaunchTemplate(
            self, "LaunchTemplate", name=f"{name}-ecs", image_id=ami.value,
            instance_type=props.instance_type, update_default_version=True,
            iam_instance_profile={"arn": self.instance_profile.arn},
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": IMDS_HOP_LIMIT,
                              "instance_metadata_tags": "disabled"},
            block_device_mappings=[LaunchTemplateBlockDeviceMappings(
                device_name=ROOT_DEVICE,
                ebs={"volume_size": props.root_volume_gb, "volume_type": "gp3",
                     "encrypted": "true", "delete_on_termination": "true"})],
            network_interfaces=[LaunchTemplateNetworkInterfaces(
                associate_public_ip_address="false", delete_on_termination="true",
                security_groups=[self.security_group.id])],
            monitoring={"enabled": True},
            ebs_optimized="true",
            user_data=base64.b64encode(render_user_data(props.cluster_name).encode()).decode(),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind,
                                                tags={"Name": f"{name}-ecs-instance"})
                for kind in ("instance", "volume")])
        skip_checks(self.launch_template, {"CKV_AWS_341": (
            "hop limit 2 is required so bridge-mode containers and the ECS agent's task "
            "credential path reach IMDSv2; awsvpc tasks are blocked via ECS_AWSVPC_BLOCK_IMDS")})
        self.asg = AutoscalingGroup(
            self, "AutoScalingGroup", name=f"{name}-ecs", vpc_zone_identifier=props.subnet_ids,
            min_size=props.min_size, max_size=props.max_size,
            desired_capacity=props.desired_capacity,
            # The template's version number, not "$Latest": the provider starts an instance
            # refresh only when the launch_template block changes, so a new AMI (a new
            # template version) must show up here to reach running instances.
            launch_template={"id": self.launch_template.id,
                             "version": Token.as_string(self.launch_template.latest_version)},
            health_check_type="EC2", health_check_grace_period=INSTANCE_WARMUP_SECONDS,
            protect_from_scale_in=True,  # required by managed termination protection
            default_instance_warmup=INSTANCE_WARMUP_SECONDS,
            instance_refresh={"strategy": "Rolling",
                              "preferences": {"min_healthy_percentage": 90,
                                              "scale_in_protected_instances": "Refresh"}},
            tag=[AutoscalingGroupTag(key="AmazonECSManaged", value="true",
                                     propagate_at_launch=True),
                 AutoscalingGroupTag(key="Name", value=f"{name}-ecs-instance",
                                     propagate_at_launch=True)],
            # ECS managed scaling owns desired capacity after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
            depends_on=list(props.launch_after) or None)
        self.capacity_provider = EcsCapacityProvider(
            self, "CapacityProvider", name=f"{name}-ec2",
            auto_scaling_group_provider={
                "auto_scaling_group_arn": self.asg.arn,
                "managed_termination_protection": "ENABLED",
                "managed_draining": "ENABLED",
                "managed_scaling": {
                    "status": "ENABLED",
                    "target_capacity": props.target_capacity_percent,
                    "minimum_scaling_step_size": props.min_scaling_step,
                    "maximum_scaling_step_size": props.max_scaling_step,
                    "instance_warmup_period": INSTANCE_WARMUP_SECONDS,
                },
            })
        self.capacity_provider_name = self.capacity_provider.name
