"""The environment table the behaviour tests are written against: dev, staging and prod running
the sample services `web` and `worker`.

A fixture, deliberately independent of settings/environments.py (the user's table, which the
invariant tests in tests/invariants/ check whatever it holds): editing that table changes no
expectation here. It starts as a copy of the table the project ships.
"""

from __future__ import annotations

from settings.schema import (
    ClusterSettings,
    DeploymentStrategy,
    EnvironmentSettings,
    HttpsSettings,
    NatMode,
    NetworkSettings,
    OffHours,
    PipelineSettings,
    S3State,
    ServicesSettings,
    SpotCapacity,
    WafSettings,
)
from settings.services import WEB, WORKER, CanaryShift, DeploymentSpec, Rollout, ScalingSpec

SAMPLE: tuple[EnvironmentSettings, ...] = (
    EnvironmentSettings(
        name="dev",
        account_id="111111111111",
        region="us-west-2",
        availability_zones=("us-west-2a", "us-west-2b"),
        state=S3State(bucket="ecs-cdktf-state-111111111111", region="us-west-2"),
        network=NetworkSettings(
            vpc_cidr="10.10.0.0/16", az_count=2, nat_mode=NatMode.SINGLE, flow_log_retention_days=7
        ),
        # m6a.large, not a t3: every task is awsvpc (an ENI each) and ECS ENI trunking skips
        # the t family, so a t3.medium holds 2 tasks; an m6a.large holds 10.
        cluster=ClusterSettings(instance_type="m6a.large", asg_min=1, asg_max=3, asg_desired=1),
        services_settings=ServicesSettings(
            log_retention_days=7,
            ecs_exec_enabled=True,
            off_hours=OffHours(timezone="America/Los_Angeles", min_tasks=0),
        ),
        pipeline=PipelineSettings(secret_recovery_days=7, dlq_max_receive_count=3),
        services=(
            WEB.with_(
                desired_count=1,
                scaling=ScalingSpec(min_tasks=1, max_tasks=2),
                allow_from=(WORKER.name,),
            ),
            WORKER,
        ),
        tags={"CostCenter": "platform-dev"},
    ),
    EnvironmentSettings(
        name="staging",
        account_id="333333333333",
        region="us-east-2",
        availability_zones=("us-east-2a", "us-east-2b"),
        state=S3State(bucket="ecs-cdktf-state-333333333333", region="us-east-2"),
        network=NetworkSettings(
            vpc_cidr="10.20.0.0/16",
            az_count=2,
            nat_mode=NatMode.SINGLE,
            flow_log_retention_days=30,
            vpc_endpoints=True,
        ),
        cluster=ClusterSettings(
            instance_type="m6a.large",
            asg_min=1,
            asg_max=4,
            asg_desired=1,
            capacity_provider_base=1,
            spot=SpotCapacity(
                instance_types=("m6a.large", "m6i.large", "m5a.large", "m5.large"),
                min_size=1,
                max_size=4,
                weight=1,
            ),
        ),
        services_settings=ServicesSettings(
            log_retention_days=30,
            off_hours=OffHours(timezone="America/New_York", min_tasks=1),
            # worker calls web, which deploys BLUE_GREEN: ECS shifts its calls only here.
            service_connect=True,
        ),
        pipeline=PipelineSettings(
            deployment_strategy=DeploymentStrategy.LINEAR,
            deployment_minutes=4,
            bake_minutes=2,
            secret_recovery_days=7,
        ),
        services=(
            WEB.with_(
                allow_from=(WORKER.name,),
                deployment=DeploymentSpec(strategy=Rollout.BLUE_GREEN, bake_minutes=5),
            ),
            WORKER,
        ),
        tags={"CostCenter": "platform-staging"},
    ),
    EnvironmentSettings(
        name="prod",
        production=True,
        account_id="222222222222",
        region="us-east-1",
        availability_zones=("us-east-1a", "us-east-1b", "us-east-1c"),
        state=S3State(bucket="ecs-cdktf-state-222222222222", region="us-east-1"),
        network=NetworkSettings(
            vpc_cidr="10.30.0.0/16",
            az_count=3,
            nat_mode=NatMode.PER_AZ,
            flow_log_retention_days=365,
            vpc_endpoints=True,
        ),
        cluster=ClusterSettings(
            instance_type="m6i.large",
            asg_min=3,
            asg_max=12,
            asg_desired=3,
            root_volume_gb=50,
            target_capacity_percent=90,
            max_scaling_step=4,
            capacity_provider_base=2,
            spot=SpotCapacity(
                instance_types=("m6i.large", "m6a.large", "m5.large", "m5a.large", "m7i.large"),
                min_size=0,
                max_size=12,
                weight=2,
            ),
        ),
        services_settings=ServicesSettings(
            log_retention_days=90,
            alb_access_logs=True,
            alb_deletion_protection=True,
            # PLACEHOLDER domain and hosted zone id: replace both with prod's real public zone
            # (ACM validates the certificate through records in it). They synthesize, but
            # `terraform plan` refuses them, naming the setting (modules/public_endpoint.py).
            https=HttpsSettings(domain="app.example.com", hosted_zone_id="Z0PLACEHOLDER0PROD"),
            waf=WafSettings(rate_limit=2000),
            # worker calls web, which deploys CANARY: ECS shifts its calls only here.
            service_connect=True,
        ),
        pipeline=PipelineSettings(
            deployment_strategy=DeploymentStrategy.LINEAR,
            deployment_minutes=10,
            bake_minutes=10,
            secret_recovery_days=30,
            trail_multi_region=True,
        ),
        services=(
            WEB.with_(
                desired_count=3,
                scaling=ScalingSpec(min_tasks=3, max_tasks=12, requests_per_target=500),
                allow_from=(WORKER.name,),
                deployment=DeploymentSpec(
                    strategy=Rollout.CANARY,
                    bake_minutes=15,
                    canary=CanaryShift(percent=10.0, bake_minutes=10),
                ),
            ),
            WORKER.with_(
                desired_count=2, scaling=ScalingSpec(min_tasks=2, max_tasks=20, queue_scaling=True)
            ),
        ),
        tags={"CostCenter": "platform-prod"},
    ),
)
