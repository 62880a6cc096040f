"""Cluster stack: the ECS cluster and the EC2 capacity it schedules tasks on."""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from engine.aws.ecs_account_setting_default import EcsAccountSettingDefault
from engine.core import ITerraformDependable, TerraformOutput
from modules.ec2_capacity import (
    Ec2Capacity,
    Ec2CapacityProps,
    InstanceGroup,
    InstanceGroupProps,
)
from modules.ecs_cluster import ClusterRef, EcsCluster, EcsClusterProps
from modules.exec_audit import ExecAccess, ExecAudit, ExecAuditProps
from settings.capacity import GRAVITON, ON_DEMAND, SPOT, primary_architecture, strategies
from settings.naming import PLATFORM, cluster_name, log_group_name
from settings.schema import EnvironmentSettings
from stacks.base import EnvironmentStack
from stacks.network import NetworkStack


class ClusterStack(EnvironmentStack):
    """ECS cluster and its EC2 capacity (on-demand, optional Spot and Graviton groups, each
    behind a capacity provider) in the network stack's private subnets."""

    kind = "cluster"

    def __init__(self, scope: Construct, env: EnvironmentSettings, network: NetworkStack) -> None:
        super().__init__(scope, env)
        launch_after = []
        if env.cluster.awsvpc_trunking:
            # awsvpc gives each task an ENI; trunking raises the ENIs per instance so task
            # density is bounded by CPU/memory rather than the instance's ENI limit. It only
            # applies to instances registered after it is set, hence before the ASG.
            launch_after.append(
                EcsAccountSettingDefault(
                    self, "AwsvpcTrunking", name="awsvpcTrunking", value="enabled"
                )
            )
        self.cluster = EcsCluster(self, "EcsCluster", EcsClusterProps(name=cluster_name(env.name)))
        self.exec_access = self._exec_audit(env)
        """Set when the env allows ECS Exec: every session is encrypted and logged."""
        groups = self._capacity(env, network, launch_after)
        self.strategies = {
            arch: [
                (groups[item.group].capacity_provider_name, item.base, item.weight)
                for item in items
            ]
            for arch, items in strategies(env.cluster).items()
        }
        """{architecture: [(capacity provider name, base, weight)]} for the services."""
        self.cluster.use_capacity_providers(
            [g.capacity_provider_name for g in groups.values()],
            self.strategies[primary_architecture(env.cluster)],
        )
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.ref = ClusterRef(
            arn=self.cluster.arn,
            name=self.cluster.name,
            account_id=env.account_id,
            region=env.region,
            exec_access=self.exec_access,
        )
        """What a service needs of the cluster it runs in."""
        self.capacity_provider_name = self.capacity.capacity_provider_name
        self.capacity_provider_names = [g.capacity_provider_name for g in groups.values()]
        self.instance_security_group_id = self.capacity.security_group_id
        TerraformOutput(self, "cluster_name", value=self.cluster.cluster.name)
        TerraformOutput(self, "capacity_provider_name", value=self.capacity_provider_name)

    def _exec_audit(self, env: EnvironmentSettings) -> ExecAccess | None:
        """The exec key and session log, when the env allows ECS Exec."""
        if not env.services_settings.ecs_exec_enabled:
            return None
        audit = ExecAudit(
            self,
            "ExecAudit",
            ExecAuditProps(
                key_alias=f"alias/{env.name}-{PLATFORM}-exec",
                log_group_name=log_group_name(env.name, f"{PLATFORM}-exec"),
                account_id=env.account_id,
                region=env.region,
                retention_days=env.services_settings.exec_audit_retention_days,
            ),
        )
        self.cluster.enable_exec_auditing(audit)
        return ExecAccess(key_arn=audit.key_arn, log_group_arn=audit.log_group_arn)

    def _capacity(
        self,
        env: EnvironmentSettings,
        network: NetworkStack,
        launch_after: Sequence[ITerraformDependable],
    ) -> dict[str, InstanceGroup]:
        """{group key: group}: on-demand, and Spot and Graviton where the env has them."""
        c, prefix = env.cluster, f"{env.name}-{PLATFORM}"
        self.capacity = Ec2Capacity(
            self,
            "Capacity",
            Ec2CapacityProps(
                name_prefix=prefix,
                cluster_name=self.cluster.name,
                vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids,
                launch_after=launch_after,
                primary=InstanceGroupProps(
                    name=f"{prefix}-ecs",
                    capacity_provider_name=f"{prefix}-ec2",
                    instance_types=(c.instance_type,),
                    min_size=c.asg_min,
                    max_size=c.asg_max,
                    desired_capacity=c.asg_desired,
                ),
                root_volume_gb=c.root_volume_gb,
                target_capacity_percent=c.target_capacity_percent,
                min_scaling_step=c.min_scaling_step,
                max_scaling_step=c.max_scaling_step,
            ),
        )
        groups = {ON_DEMAND: self.capacity.primary}
        if c.spot is not None:
            groups[SPOT] = self.capacity.add_group(
                "Spot",
                InstanceGroupProps(
                    name=f"{prefix}-ecs-spot",
                    capacity_provider_name=f"{prefix}-ec2-spot",
                    instance_types=c.spot.instance_types,
                    min_size=c.spot.min_size,
                    max_size=c.spot.max_size,
                    desired_capacity=c.spot.min_size,
                    spot=True,
                ),
            )
        if c.graviton is not None:
            groups[GRAVITON] = self.capacity.add_group(
                "Graviton",
                InstanceGroupProps(
                    name=f"{prefix}-ecs-arm64",
                    capacity_provider_name=f"{prefix}-ec2-arm64",
                    instance_types=(c.graviton.instance_type,),
                    min_size=c.graviton.min_size,
                    max_size=c.graviton.max_size,
                    desired_capacity=c.graviton.min_size,
                ),
            )
        return groups
