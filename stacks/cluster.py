"""Cluster stack: the ECS cluster and the EC2 capacity it schedules tasks on."""

from __future__ import annotations

from engine.core import TerraformOutput
from engine.aws.ecs_account_setting_default import EcsAccountSettingDefault
from constructs import Construct

from modules.ec2_capacity import Ec2Capacity, Ec2CapacityProps
from modules.ecs_cluster import EcsCluster, EcsClusterProps
from settings.naming import PLATFORM, resource_name
from settings.rules import instance_architecture
from settings.schema import EnvironmentSettings
from stacks.base import EnvironmentStack
from stacks.network import NetworkStack


class ClusterStack(EnvironmentStack):
    """ECS cluster + ASG capacity provider in the network stack's private subnets."""

    kind = "cluster"

    def __init__(self, scope: Construct, env: EnvironmentSettings,
                 network: NetworkStack) -> None:
        super().__init__(scope, env)
        c = env.cluster
        launch_after = []
        if c.awsvpc_trunking:
            # awsvpc gives each task an ENI; trunking raises the ENIs per instance so task
            # density is bounded by CPU/memory rather than the instance's ENI limit. It only
            # applies to instances registered after it is set, hence before the ASG.
            launch_after.append(EcsAccountSettingDefault(
                self, "AwsvpcTrunking", name="awsvpcTrunking", value="enabled"))
        self.cluster = EcsCluster(self, "EcsCluster", EcsClusterProps(
            name=resource_name(env.name, PLATFORM, "cluster")))
        self.capacity = Ec2Capacity(self, "Capacity", Ec2CapacityProps(
            name_prefix=f"{env.name}-{PLATFORM}", account_id=env.account_id,
            cluster_name=self.cluster.name, vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids, instance_type=c.instance_type,
            architecture=instance_architecture(c.instance_type), launch_after=launch_after,
            min_size=c.asg_min, max_size=c.asg_max, desired_capacity=c.asg_desired,
            root_volume_gb=c.root_volume_gb, target_capacity_percent=c.target_capacity_percent,
            min_scaling_step=c.min_scaling_step, max_scaling_step=c.max_scaling_step))
        self.cluster.use_capacity_provider(self.capacity.capacity_provider_name,
                                           base=c.capacity_provider_base,
                                           weight=c.capacity_provider_weight)
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.capacity_provider_name = self.capacity.capacity_provider_name
        self.instance_security_group_id = self.capacity.security_group_id
        TerraformOutput(self, "cluster_name", value=self.cluster.cluster.name)
        TerraformOutput(self, "capacity_provider_name", value=self.capacity_provider_name)
