"""EC2 capacity for ECS: instance role, launch template, ASG and a managed capacity provider."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.autoscaling_group import AutoscalingGroup, AutoscalingGroupTag
from engine.aws.autoscaling_group import (
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride as MixedInstancesOverride,
)
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
from engine.core import ITerraformDependable, TerraformResourceLifecycle, Token
from modules.checkov_skips import skip_checks
from modules.iam import assume_role_policy, managed_policy_arn
from settings.rules import instance_architecture, instance_types_problem

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
class InstanceGroupProps:
    """One Auto Scaling group of container instances behind its own capacity provider."""

    name: str
    """Name of the launch template and the Auto Scaling group."""
    capacity_provider_name: str
    instance_types: tuple[str, ...]
    """One type for an on-demand group; several (one architecture) for a Spot group, so Spot
    can pick the deepest pools."""
    min_size: int
    max_size: int
    desired_capacity: int
    spot: bool = False
    """All Spot (price-capacity-optimized, capacity rebalance, ECS Spot draining)."""


@dataclass(frozen=True)
class Ec2CapacityProps:
    """What every container instance of the cluster shares, and its first (on-demand) group."""

    name_prefix: str
    cluster_name: str
    vpc_id: str
    subnet_ids: Sequence[str]
    primary: InstanceGroupProps
    root_volume_gb: int
    target_capacity_percent: int
    min_scaling_step: int
    max_scaling_step: int
    launch_after: Sequence[ITerraformDependable] = ()
    """Resources instances must not register before, e.g. the account's awsvpcTrunking
    default (it applies only to instances registered after it is set)."""


@dataclass
class InstanceGroup:
    """A group's launch template, ASG and capacity provider, and the CPU architecture it runs."""

    architecture: str
    launch_template: LaunchTemplate
    asg: AutoscalingGroup
    capacity_provider: EcsCapacityProvider

    @property
    def capacity_provider_name(self) -> str:
        return self.capacity_provider.name


def group_architecture(instance_types: Sequence[str]) -> str:
    """The one CPU architecture of a group's instance types (ValueError if they mix)."""
    if problem := instance_types_problem(tuple(instance_types)):
        raise ValueError(problem)
    return instance_architecture(instance_types[0])


def cloudwatch_agent_config() -> dict[str, Any]:
    """Host metrics and the ECS agent log, published to the CWAgent namespace."""
    return {
        "agent": {"metrics_collection_interval": 60, "run_as_user": "cwagent"},
        "metrics": {
            "namespace": CWAGENT_NAMESPACE,
            "append_dimensions": {
                "AutoScalingGroupName": "${aws:AutoScalingGroupName}",
                "InstanceId": "${aws:InstanceId}",
            },
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": ["/"]},
                "swap": {"measurement": ["swap_used_percent"]},
            },
        },
        "logs": {
            "logs_collected": {
                "files": {
                    "collect_list": [
                        {
                            "file_path": "/var/log/ecs/ecs-agent.log",
                            "log_group_name": "/ec2/ecs-agent",
                            "log_stream_name": "{instance_id}",
                            "retention_in_days": 30,
                        }
                    ]
                }
            }
        },
    }


def render_user_data(cluster_name: str, spot: bool = False) -> str:
    """Shell script run at first boot: join the cluster, start the CloudWatch agent.

    On Spot, the ECS agent drains an instance as soon as its two-minute interruption notice
    arrives (ECS Developer Guide, "Spot Instance draining"), so tasks move before it goes.
    """
    spot_draining = "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\n" if spot else ""
    config = json.dumps(cloudwatch_agent_config(), indent=2)
    return f"""#!/bin/bash
set -euo pipefail
cat >> /etc/ecs/ecs.config <<'ECSCONFIG'
ECS_CLUSTER={cluster_name}
ECS_AWSVPC_BLOCK_IMDS=true
ECS_ENABLE_CONTAINER_METADATA=true
ECS_CONTAINER_STOP_TIMEOUT=30s
{spot_draining}ECSCONFIG
dnf install -y amazon-cloudwatch-agent
cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<'CWCONFIG'
{config}
CWCONFIG
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 \\
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json -s
"""


class Ec2Capacity(Construct):
    """Private, SSH-less ECS container instances: one instance role and security group, and
    Auto Scaling groups each behind a managed-scaling capacity provider (`add_group`)."""

    def __init__(self, scope: Construct, id_: str, props: Ec2CapacityProps) -> None:
        super().__init__(scope, id_)
        self._props = props
        name = props.name_prefix
        # The trust AWS documents for the ECS container instance role ("Amazon ECS container
        # instance IAM role"): no conditions. EC2 sends no aws:SourceAccount when it fetches
        # instance-profile credentials, so such a condition would leave instances without
        # credentials, unable to join the cluster.
        self.role = IamRole(
            self,
            "InstanceRole",
            name=f"{name}-ecs-instance",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
        )
        for policy in INSTANCE_MANAGED_POLICIES:
            IamRolePolicyAttachment(
                self,
                "Attach" + policy.split("/")[-1],
                role=self.role.name,
                policy_arn=managed_policy_arn(policy),
            )
        self.instance_profile = IamInstanceProfile(
            self, "InstanceProfile", name=f"{name}-ecs-instance", role=self.role.name
        )
        # No ingress at all: tasks get their own ENIs and SGs (awsvpc); people use SSM.
        self.security_group = SecurityGroup(
            self,
            "InstanceSecurityGroup",
            name=f"{name}-ecs-instances",
            vpc_id=props.vpc_id,
            description="ECS container instances: no ingress, egress for ECS/ECR/SSM",
            tags={"Name": f"{name}-ecs-instances"},
        )
        VpcSecurityGroupEgressRule(
            self,
            "InstanceEgress",
            security_group_id=self.security_group.id,
            description="ECS, ECR, SSM, CloudWatch and package repos",
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
        )
        self.security_group_id = self.security_group.id
        self.groups: list[InstanceGroup] = []
        # The first group's resources sit directly in this construct (stable addresses).
        self.primary = self._group(self, props.primary)
        self.capacity_provider_name = self.primary.capacity_provider_name

    def add_group(self, id_: str, group: InstanceGroupProps) -> InstanceGroup:
        """Another Auto Scaling group and capacity provider (e.g. Spot, or Graviton)."""
        return self._group(Construct(self, id_), group)

    def _group(self, scope: Construct, group: InstanceGroupProps) -> InstanceGroup:
        architecture = group_architecture(group.instance_types)
        launch_template = self._launch_template(scope, group, architecture)
        asg = self._auto_scaling_group(scope, group, launch_template)
        capacity_provider = self._capacity_provider(scope, group, asg)
        result = InstanceGroup(architecture, launch_template, asg, capacity_provider)
        self.groups.append(result)
        return result

    def _launch_template(
        self, scope: Construct, group: InstanceGroupProps, architecture: str
    ) -> LaunchTemplate:
        """The ECS-optimized AMI of the architecture, IMDSv2 only, encrypted gp3, no public
        IP, user data that joins the cluster."""
        props = self._props
        ami = DataAwsSsmParameter(scope, "EcsAmi", name=ECS_AMI_PARAMETERS[architecture])
        launch_template = LaunchTemplate(
            scope,
            "LaunchTemplate",
            name=group.name,
            image_id=ami.value,
            instance_type=group.instance_types[0],
            update_default_version=True,
            iam_instance_profile={"arn": self.instance_profile.arn},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": IMDS_HOP_LIMIT,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=_root_volume(props.root_volume_gb),
            network_interfaces=[
                LaunchTemplateNetworkInterfaces(
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[self.security_group.id],
                )
            ],
            monitoring={"enabled": True},
            ebs_optimized="true",
            user_data=base64.b64encode(
                render_user_data(props.cluster_name, group.spot).encode()
            ).decode(),
            tag_specifications=[
                LaunchTemplateTagSpecifications(
                    resource_type=kind, tags={"Name": f"{group.name}-instance"}
                )
                for kind in ("instance", "volume")
            ],
        )
        skip_checks(
            launch_template,
            {
                "CKV_AWS_341": (
                    "hop limit 2 is required so bridge-mode containers and the ECS agent's task "
                    "credential path reach IMDSv2; awsvpc tasks are blocked via "
                    "ECS_AWSVPC_BLOCK_IMDS"
                )
            },
        )
        return launch_template

    def _auto_scaling_group(
        self, scope: Construct, group: InstanceGroupProps, launch_template: LaunchTemplate
    ) -> AutoscalingGroup:
        """Scale-in protected (managed termination protection needs it), refreshed when the
        template's version changes."""
        # The template's version number, not "$Latest": the provider starts an instance
        # refresh only when the launch template reference changes, so a new AMI (a new
        # template version) must show up here to reach running instances.
        template = {
            "id": launch_template.id,
            "version": Token.as_string(launch_template.latest_version),
        }
        placement = (
            {
                "mixed_instances_policy": _spot_policy(template, group.instance_types),
                "capacity_rebalance": True,
            }
            if group.spot
            else {"launch_template": template}
        )
        return AutoscalingGroup(
            scope,
            "AutoScalingGroup",
            name=group.name,
            vpc_zone_identifier=self._props.subnet_ids,
            min_size=group.min_size,
            max_size=group.max_size,
            desired_capacity=group.desired_capacity,
            health_check_type="EC2",
            health_check_grace_period=INSTANCE_WARMUP_SECONDS,
            protect_from_scale_in=True,  # required by managed termination protection
            default_instance_warmup=INSTANCE_WARMUP_SECONDS,
            instance_refresh={
                "strategy": "Rolling",
                "preferences": {
                    "min_healthy_percentage": 90,
                    "scale_in_protected_instances": "Refresh",
                },
            },
            tag=[
                AutoscalingGroupTag(key="AmazonECSManaged", value="true", propagate_at_launch=True),
                AutoscalingGroupTag(
                    key="Name", value=f"{group.name}-instance", propagate_at_launch=True
                ),
            ],
            # ECS managed scaling owns desired capacity after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
            depends_on=list(self._props.launch_after) or None,
            **placement,
        )

    def _capacity_provider(
        self, scope: Construct, group: InstanceGroupProps, asg: AutoscalingGroup
    ) -> EcsCapacityProvider:
        """Managed scaling (to the target utilisation), termination protection and draining."""
        props = self._props
        return EcsCapacityProvider(
            scope,
            "CapacityProvider",
            name=group.capacity_provider_name,
            auto_scaling_group_provider={
                "auto_scaling_group_arn": asg.arn,
                "managed_termination_protection": "ENABLED",
                "managed_draining": "ENABLED",
                "managed_scaling": {
                    "status": "ENABLED",
                    "target_capacity": props.target_capacity_percent,
                    "minimum_scaling_step_size": props.min_scaling_step,
                    "maximum_scaling_step_size": props.max_scaling_step,
                    "instance_warmup_period": INSTANCE_WARMUP_SECONDS,
                },
            },
        )


def _root_volume(size_gb: int) -> list[LaunchTemplateBlockDeviceMappings]:
    """The root volume: encrypted gp3, deleted with the instance."""
    return [
        LaunchTemplateBlockDeviceMappings(
            device_name=ROOT_DEVICE,
            ebs={
                "volume_size": size_gb,
                "volume_type": "gp3",
                "encrypted": "true",
                "delete_on_termination": "true",
            },
        )
    ]


def _spot_policy(template: dict[str, Any], instance_types: Sequence[str]) -> dict[str, Any]:
    """All Spot across several instance types, price-capacity-optimized: the allocation AWS
    recommends, taking the lowest-priced of the pools least likely to be interrupted (EC2
    Auto Scaling User Guide, "Allocation strategies for multiple instance types")."""
    return {
        "instances_distribution": {
            "on_demand_base_capacity": 0,
            "on_demand_percentage_above_base_capacity": 0,
            "spot_allocation_strategy": "price-capacity-optimized",
        },
        "launch_template": {
            "launch_template_specification": {
                "launch_template_id": template["id"],
                "version": template["version"],
            },
            # Lists of blocks inside a plain dict reach Terraform only as typed structs.
            "override": [MixedInstancesOverride(instance_type=t) for t in instance_types],
        },
    }
