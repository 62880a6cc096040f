"""The `aws_ecs_service` blocks of how a service deploys and how traffic reaches it: the
deployment strategy, the load balancer attachment and Service Connect. Pure builders: the
`EcsService` construct decides when each applies."""

from __future__ import annotations

from typing import Any

from engine.aws.ecs_service import (
    EcsServiceDeploymentConfiguration,
    EcsServiceDeploymentConfigurationCanaryConfiguration,
    EcsServiceDeploymentConfigurationLifecycleHook,
    EcsServiceDeploymentConfigurationLinearConfiguration,
    EcsServiceLoadBalancer,
    EcsServiceLoadBalancerAdvancedConfiguration,
    EcsServiceServiceConnectConfigurationLogConfiguration,
    EcsServiceServiceConnectConfigurationService,
    EcsServiceServiceConnectConfigurationServiceClientAlias,
)

from modules.ecs_service.props import TargetGroupAttachment
from settings.services import DEFAULT_BAKE_MINUTES, CanaryShift, DeploymentSpec, LinearShift, Rollout

SERVICE_CONNECT_LOG_PREFIX = "service-connect"
"""Stream prefix of the Service Connect proxy's logs in the service's log group."""


def deployment_arguments(deployment: DeploymentSpec,
                         hooks_role_arn: str | None = None) -> dict[str, Any]:
    """The service arguments of its deployment strategy.

    ROLLING keeps the circuit breaker, which ECS supports for rolling updates only (API
    reference, DeploymentCircuitBreaker); the traffic-shifting strategies roll back on the
    deployment alarms and lifecycle hooks, during the shift and the bake time.
    """
    d = deployment
    if not d.shifts_traffic:
        return {"deployment_circuit_breaker": {"enable": True, "rollback": True}}
    config: dict[str, Any] = {
        "strategy": d.strategy.value,
        "bake_time_in_minutes": str(DEFAULT_BAKE_MINUTES if d.bake_minutes is None
                                    else d.bake_minutes)}
    if d.strategy is Rollout.CANARY:
        canary = d.canary or CanaryShift()
        config["canary_configuration"] = EcsServiceDeploymentConfigurationCanaryConfiguration(
            canary_percent=canary.percent, canary_bake_time_in_minutes=str(canary.bake_minutes))
    if d.strategy is Rollout.LINEAR:
        linear = d.linear or LinearShift()
        config["linear_configuration"] = EcsServiceDeploymentConfigurationLinearConfiguration(
            step_percent=linear.step_percent,
            step_bake_time_in_minutes=str(linear.step_bake_minutes))
    if d.lifecycle_hooks:
        if hooks_role_arn is None:
            raise ValueError("lifecycle hooks need the role ECS invokes them with")
        config["lifecycle_hook"] = [EcsServiceDeploymentConfigurationLifecycleHook(
            hook_target_arn=hook.function_arn, lifecycle_stages=list(hook.stages),
            role_arn=hooks_role_arn) for hook in d.lifecycle_hooks]
    return {"deployment_controller": {"type": "ECS"},
            "deployment_configuration": EcsServiceDeploymentConfiguration(**config)}


def load_balancer_block(attachment: TargetGroupAttachment, container_name: str,
                        port: int) -> EcsServiceLoadBalancer:
    """The container port behind the target group; for a traffic-shifting service also the
    alternate group, the rules ECS reweights and the role it does it with."""
    shift = attachment.traffic_shift
    advanced = None if shift is None else EcsServiceLoadBalancerAdvancedConfiguration(
        alternate_target_group_arn=shift.alternate_target_group_arn,
        production_listener_rule=shift.production_listener_rule_arn,
        test_listener_rule=shift.test_listener_rule_arn, role_arn=shift.role_arn)
    return EcsServiceLoadBalancer(target_group_arn=attachment.target_group_arn,
                                  container_name=container_name, container_port=port,
                                  advanced_configuration=advanced)


def service_connect_configuration(
        namespace_arn: str, namespace_name: str, server: tuple[str, str, int] | None,
        log_group: str, region: str) -> dict[str, Any]:
    """Client of the namespace, and with `server` (port name, discovery name, port) server of
    `<discovery name>.<namespace>:<port>`; the proxy logs to the service's log group (its
    access logs: provider 6.25 has no `access_log_configuration` block yet). The arguments
    of `put_service_connect_configuration`."""
    servers = [] if server is None else [EcsServiceServiceConnectConfigurationService(
        port_name=server[0], discovery_name=server[1],
        client_alias=EcsServiceServiceConnectConfigurationServiceClientAlias(
            port=server[2], dns_name=f"{server[1]}.{namespace_name}"))]
    return dict(
        enabled=True, namespace=namespace_arn, service=servers or None,
        log_configuration=EcsServiceServiceConnectConfigurationLogConfiguration(
            log_driver="awslogs", options={
                "awslogs-group": log_group, "awslogs-region": region,
                "awslogs-stream-prefix": SERVICE_CONNECT_LOG_PREFIX}))
