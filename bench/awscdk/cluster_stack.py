"""Cluster stack: the ECS cluster and its EC2 capacity (on-demand, optional Spot)."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from bench.awscdk.base import EnvStack, retention
from bench.awscdk.envs import EnvPlan
from bench.awscdk.network_stack import NetworkStack
from settings.naming import PLATFORM, log_group_name, resource_name


class ClusterStack(EnvStack):
    """ECS cluster (exec audited where enabled) and one capacity provider per instance group."""

    kind = "cluster"

    def __init__(self, scope: Construct, env: EnvPlan, network: NetworkStack) -> None:
        super().__init__(scope, env)
        c = env.cluster
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            cluster_name=resource_name(env.name, PLATFORM, "cluster"),
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            execute_command_configuration=self._exec_audit(env),
        )
        self.security_group = ec2.SecurityGroup(
            self, "Instances", vpc=network.vpc, description="ECS container instances"
        )
        self.role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        prefix = f"{env.name}-{PLATFORM}"
        self.strategies = [
            ecs.CapacityProviderStrategy(
                capacity_provider=self._group(
                    "OnDemand",
                    f"{prefix}-ecs",
                    f"{prefix}-ec2",
                    (c.instance_type,),
                    c.asg_min,
                    c.asg_max,
                    c.asg_desired,
                    network,
                    spot=False,
                ),
                base=c.capacity_provider_base,
                weight=c.capacity_provider_weight,
            )
        ]
        if c.spot is not None:
            self.strategies.append(
                ecs.CapacityProviderStrategy(
                    capacity_provider=self._group(
                        "Spot",
                        f"{prefix}-ecs-spot",
                        f"{prefix}-ec2-spot",
                        c.spot.instance_types,
                        c.spot.min_size,
                        c.spot.max_size,
                        c.spot.min_size,
                        network,
                        spot=True,
                    ),
                    weight=c.spot.weight,
                )
            )
        self.cluster.add_default_capacity_provider_strategy(self.strategies)

    def _exec_audit(self, env: EnvPlan) -> ecs.ExecuteCommandConfiguration | None:
        """ECS Exec sessions encrypted with a key of their own and logged, where enabled."""
        settings = env.services_settings
        if not settings.ecs_exec_enabled:
            return None
        key = kms.Key(
            self, "ExecKey", enable_key_rotation=True, alias=f"alias/{env.name}-{PLATFORM}-exec"
        )
        log_group = logs.LogGroup(
            self,
            "ExecLogs",
            log_group_name=log_group_name(env.name, f"{PLATFORM}-exec"),
            retention=retention(settings.exec_audit_retention_days),
            encryption_key=key,
        )
        return ecs.ExecuteCommandConfiguration(
            kms_key=key,
            logging=ecs.ExecuteCommandLogging.OVERRIDE,
            log_configuration=ecs.ExecuteCommandLogConfiguration(
                cloud_watch_log_group=log_group, cloud_watch_encryption_enabled=True
            ),
        )

    def _group(
        self,
        cid: str,
        name: str,
        provider_name: str,
        instance_types: tuple[str, ...],
        min_size: int,
        max_size: int,
        desired: int,
        network: NetworkStack,
        *,
        spot: bool,
    ) -> str:
        """An Auto Scaling group (IMDSv2, encrypted root volume) behind a capacity provider."""
        c = self.plan.cluster
        template = self._launch_template(cid, instance_types[0])
        group_props = dict(
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            auto_scaling_group_name=name,
            min_capacity=min_size,
            max_capacity=max_size,
            desired_capacity=desired,
        )
        group = self._auto_scaling_group(cid, template, instance_types, group_props, spot=spot)
        provider = ecs.AsgCapacityProvider(
            self,
            f"{cid}Capacity",
            auto_scaling_group=group,
            capacity_provider_name=provider_name,
            target_capacity_percent=c.target_capacity_percent,
            minimum_scaling_step_size=c.min_scaling_step,
            maximum_scaling_step_size=c.max_scaling_step,
            spot_instance_draining=spot,
        )
        self.cluster.add_asg_capacity_provider(provider)
        return provider.capacity_provider_name

    def _launch_template(self, cid: str, instance_type: str) -> ec2.LaunchTemplate:
        """IMDSv2 only, an encrypted gp3 root volume, the ECS-optimized AL2023 image."""
        c = self.plan.cluster
        return ec2.LaunchTemplate(
            self,
            f"{cid}Template",
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
            role=self.role,
            security_group=self.security_group,
            require_imdsv2=True,
            user_data=ec2.UserData.for_linux(),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        c.root_volume_gb, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )

    def _auto_scaling_group(
        self,
        cid: str,
        template: ec2.LaunchTemplate,
        instance_types: tuple[str, ...],
        group_props: dict[str, Any],
        *,
        spot: bool,
    ) -> autoscaling.AutoScalingGroup:
        """On demand from the template, or all Spot over `instance_types` (price-capacity)."""
        if spot:
            return autoscaling.AutoScalingGroup(
                self,
                f"{cid}Group",
                mixed_instances_policy=autoscaling.MixedInstancesPolicy(
                    launch_template=template,
                    launch_template_overrides=[
                        autoscaling.LaunchTemplateOverrides(instance_type=ec2.InstanceType(t))
                        for t in instance_types
                    ],
                    instances_distribution=autoscaling.InstancesDistribution(
                        on_demand_percentage_above_base_capacity=0,
                        spot_allocation_strategy=(
                            autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED
                        ),
                    ),
                ),
                **group_props,
            )
        return autoscaling.AutoScalingGroup(
            self, f"{cid}Group", launch_template=template, **group_props
        )
