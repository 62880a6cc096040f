"""EcsService as a construct: what it refuses, and the invariant it checks at synth once its
wiring methods ran. The synthesized services of every env are tested in tests/stacks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modules.service_config import AgentQueues, ServiceConfig
from settings.services import DeploymentSpec, Rollout


@pytest.fixture
def stack(tmp_path):
    """A stack with nothing but the AWS provider, in an app of its own."""
    from engine.aws.provider import AwsProvider
    from engine.core import App, TerraformStack

    stack = TerraformStack(App(outdir=str(tmp_path)), "services-test")
    AwsProvider(stack, "aws", region="us-west-2")
    return stack


def _props(name: str = "web", **changes):
    from modules.ecs_cluster import ClusterRef
    from modules.ecs_service import EcsServiceProps, TaskPlacement
    from modules.task_definition import ConfigAgentSidecar, ContainerProps

    config = ServiceConfig(
        service=name,
        account_id="111111111111",
        region="us-west-2",
        key_arn="arn:key",
        queues=AgentQueues(
            topic_arn="arn:topic",
            dlq_arn="arn:dlq",
            queue_name_prefix=f"dev-{name}-cfg-",
            max_receive_count=3,
        ),
        token_secret_arn="arn:token",
    )
    props = EcsServiceProps(
        env="dev",
        name=name,
        cluster=ClusterRef(
            arn="arn:cluster",
            name="dev-platform-cluster",
            account_id="111111111111",
            region="us-west-2",
        ),
        placement=TaskPlacement(
            vpc_id="vpc-1",
            subnet_ids=["subnet-1"],
            capacity_provider_strategy=[("dev-platform-ec2", 0, 1)],
        ),
        container=ContainerProps(image="nginx:1", cpu=256, memory=512, port=8080),
        agent=ConfigAgentSidecar("agent:1", config),
    )
    return replace(props, **changes)


def _service(stack, name: str = "web", **changes):
    from modules.ecs_service import EcsService
    from settings.naming import pascal_case

    return EcsService(stack, f"Service{pascal_case(name)}", _props(name, **changes))


def _load_balancer(stack, shifting: bool):
    from modules.load_balancer import AlbTarget, LoadBalancer, LoadBalancerProps

    return LoadBalancer(
        stack,
        "LoadBalancer",
        LoadBalancerProps(
            name="dev-platform-alb",
            vpc_id="vpc-1",
            subnet_ids=["subnet-1", "subnet-2"],
            targets=(
                AlbTarget(
                    name="web",
                    target_group_name="dev-web",
                    port=8080,
                    health_check_path="/health",
                    alternate_target_group_name="dev-web-alt" if shifting else None,
                ),
            ),
        ),
    )


def test_config_of_another_service_is_refused(stack):
    from modules.ecs_service import EcsService

    with pytest.raises(ValueError, match="config resources are for 'web', not 'api'"):
        EcsService(stack, "ServiceApi", replace(_props(), name="api"))


def test_a_traffic_shifting_service_left_outside_a_load_balancer_fails_the_synth(stack):
    _service(stack, deployment=DeploymentSpec(strategy=Rollout.CANARY))
    with pytest.raises(
        RuntimeError,
        match="CANARY deployment shifts traffic between ALB "
        "target groups: put the service behind one",
    ):
        stack.node.scope.synth()


def test_a_traffic_shifting_service_behind_its_target_groups_synthesizes(stack):
    service = _service(stack, deployment=DeploymentSpec(strategy=Rollout.BLUE_GREEN))
    _load_balancer(stack, shifting=True).add_target(service)
    stack.node.scope.synth()


def test_the_deployment_and_the_load_balancer_must_agree_on_traffic_shifting(stack):
    with pytest.raises(ValueError, match="a ROLLING deployment takes no traffic shift"):
        _load_balancer(stack, shifting=True).add_target(_service(stack))


def test_add_target_refuses_unknown_services_and_other_ports(stack):
    lb = _load_balancer(stack, shifting=False)
    with pytest.raises(ValueError, match="the ALB has no target 'api'"):
        lb.add_target(_service(stack, "api"))
    web = _service(stack, container=replace(_props().container, port=9000))
    with pytest.raises(ValueError, match="container port 9000 is not the target group port 8080"):
        lb.add_target(web)


def test_a_service_is_discoverable_one_way_only(stack):
    from modules.service_discovery import (
        ServiceConnectNamespace,
        ServiceDiscovery,
        ServiceDiscoveryProps,
    )

    namespace = ServiceDiscoveryProps(namespace="dev.internal", vpc_id="vpc-1")
    service = _service(stack)
    service.enable_cloud_map(ServiceDiscovery(stack, "ServiceDiscovery", namespace))
    with pytest.raises(ValueError, match="Service Connect replaces the DNS registry"):
        service.enable_service_connect(ServiceConnectNamespace(stack, "Connect", namespace))


def test_callers_need_a_port_and_are_other_services(stack):
    web = _service(stack)
    with pytest.raises(ValueError, match="a service cannot be its own caller"):
        web.allow_from(web)
    worker = _service(stack, "worker", container=replace(_props().container, port=None))
    with pytest.raises(ValueError, match="callers need a container_port"):
        worker.allow_from(web)
