"""The `aws_ecs_service` blocks of how a service deploys and how traffic reaches it: the
deployment strategy, the load balancer attachment and Service Connect. Pure builders: the
`EcsService` construct decides when each applies."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    EcsServiceTimeouts,
)
from engine.core import TerraformResourceLifecycle
from modules.ecs_service.props import TargetGroupAttachment
from settings.services import (
    DEFAULT_BAKE_MINUTES,
    CanaryShift,
    DeploymentSpec,
    LinearShift,
    Rollout,
)

SERVICE_CONNECT_LOG_PREFIX = "service-connect"
"""Stream prefix of the Service Connect proxy's logs in the service's log group."""
STRATEGY_TRIGGER = "capacity_provider_strategy"
"""The `triggers` key whose value changes exactly when the capacity provider strategy does."""
START_MINUTES = 30
"""What any deployment may take before traffic moves: the capacity provider launching an
instance, tasks pulling and passing their health checks, the missing-tasks alarm (10 min)
evaluating. Traffic-shifting strategies add their shift and bake time."""


def deployment_arguments(
    deployment: DeploymentSpec, hooks_role_arn: str | None = None
) -> dict[str, Any]:
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
        "bake_time_in_minutes": str(
            DEFAULT_BAKE_MINUTES if d.bake_minutes is None else d.bake_minutes
        ),
    }
    if d.strategy is Rollout.CANARY:
        canary = d.canary or CanaryShift()
        config["canary_configuration"] = EcsServiceDeploymentConfigurationCanaryConfiguration(
            canary_percent=canary.percent, canary_bake_time_in_minutes=str(canary.bake_minutes)
        )
    if d.strategy is Rollout.LINEAR:
        linear = d.linear or LinearShift()
        config["linear_configuration"] = EcsServiceDeploymentConfigurationLinearConfiguration(
            step_percent=linear.step_percent,
            step_bake_time_in_minutes=str(linear.step_bake_minutes),
        )
    if d.lifecycle_hooks:
        if hooks_role_arn is None:
            raise ValueError("lifecycle hooks need the role ECS invokes them with")
        config["lifecycle_hook"] = [
            EcsServiceDeploymentConfigurationLifecycleHook(
                hook_target_arn=hook.function_arn,
                lifecycle_stages=list(hook.stages),
                role_arn=hooks_role_arn,
            )
            for hook in d.lifecycle_hooks
        ]
    return {
        "deployment_controller": {"type": "ECS"},
        "deployment_configuration": EcsServiceDeploymentConfiguration(**config),
    }


def load_balancer_block(
    attachment: TargetGroupAttachment, container_name: str, port: int
) -> EcsServiceLoadBalancer:
    """The container port behind the target group; for a traffic-shifting service also the
    alternate group, the rules ECS reweights and the role it does it with."""
    shift = attachment.traffic_shift
    advanced = (
        None
        if shift is None
        else EcsServiceLoadBalancerAdvancedConfiguration(
            alternate_target_group_arn=shift.alternate_target_group_arn,
            production_listener_rule=shift.production_listener_rule_arn,
            test_listener_rule=shift.test_listener_rule_arn,
            role_arn=shift.role_arn,
        )
    )
    return EcsServiceLoadBalancer(
        target_group_arn=attachment.target_group_arn,
        container_name=container_name,
        container_port=port,
        advanced_configuration=advanced,
    )


def service_connect_configuration(
    namespace_arn: str,
    namespace_name: str,
    server: tuple[str, str, int] | None,
    log_group: str,
    region: str,
) -> dict[str, Any]:
    """Client of the namespace, and with `server` (port name, discovery name, port) server of
    `<discovery name>.<namespace>:<port>`; the proxy logs to the service's log group (its
    access logs: provider 6.25 has no `access_log_configuration` block yet). The arguments
    of `put_service_connect_configuration`."""
    servers = (
        []
        if server is None
        else [
            EcsServiceServiceConnectConfigurationService(
                port_name=server[0],
                discovery_name=server[1],
                client_alias=EcsServiceServiceConnectConfigurationServiceClientAlias(
                    port=server[2], dns_name=f"{server[1]}.{namespace_name}"
                ),
            )
        ]
    )
    return dict(
        enabled=True,
        namespace=namespace_arn,
        service=servers or None,
        log_configuration=EcsServiceServiceConnectConfigurationLogConfiguration(
            log_driver="awslogs",
            options={
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": SERVICE_CONNECT_LOG_PREFIX,
            },
        ),
    )


def strategy_trigger(strategy: Sequence[tuple[str, int, int]]) -> str:
    """`<provider>:base=<b>:weight=<w>,...`: the strategy as one string (provider names may be
    tokens, resolved at plan), so the service's `triggers` change with it and only with it."""
    return ",".join(f"{name}:base={base}:weight={weight}" for name, base, weight in strategy)


def shift_minutes(deployment: DeploymentSpec) -> int:
    """Minutes a deployment spends moving traffic and baking once the new tasks are healthy:
    0 for ROLLING; the bake time, plus the canary's wait, or a wait after every linear step
    (ceil(100 / step) steps, counted generously)."""
    d = deployment
    if not d.shifts_traffic:
        return 0
    minutes = DEFAULT_BAKE_MINUTES if d.bake_minutes is None else d.bake_minutes
    if d.strategy is Rollout.CANARY:
        minutes += (d.canary or CanaryShift()).bake_minutes
    if d.strategy is Rollout.LINEAR:
        linear = d.linear or LinearShift()
        minutes += math.ceil(100 / linear.step_percent) * linear.step_bake_minutes
    return minutes


def deployment_timeout_minutes(deployment: DeploymentSpec) -> int:
    """How long `terraform apply` waits for a deployment to finish (or fail): START_MINUTES
    plus the strategy's shift and bake time. The provider's own default is 20 minutes for
    create and update (internal/service/ecs/service.go, ResourceService `Timeouts`), shorter
    than prod's canary (10 min at 10 %, then 15 min bake) alone."""
    return START_MINUTES + shift_minutes(deployment)


def update_arguments(
    strategy: Sequence[tuple[str, int, int]], deployment: DeploymentSpec
) -> dict[str, Any]:
    """How Terraform updates the service, per the AWS provider 6.47.1
    (internal/service/ecs/service.go):

    - `force_new_deployment`: `capacityProviderStrategyCustomizeDiff` fails the plan of any
      strategy change without it. It only rides along when something else changes
      (`resourceServiceUpdate` calls UpdateService only if `d.HasChangesExcept(...)`), so it
      redeploys on a strategy change, not on every apply; `triggers` (`triggersCustomizeDiff`
      keeps their diff only with `force_new_deployment`) name the strategy in the plan.
    - `wait_for_steady_state`: `waitServiceStable` follows the new ECS deployment to
      SUCCESSFUL; STOPPED, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED (`findDeploymentStatus`)
      fail the apply with ECS's reason, within `timeouts` sized by
      `deployment_timeout_minutes`. `sigint_rollback`: a cancelled apply rolls back.
    - `lifecycle`: Application Auto Scaling owns `desired_count`. On a traffic-shifting
      service ECS swaps the primary and alternate target groups in `load_balancer` after
      each deployment; sending the configured ones back starts a deployment that does not
      alternate (hashicorp/terraform-provider-aws#45678), so Terraform ignores them: an
      unchanged `load_balancer` is left out of UpdateService (`d.HasChange("load_balancer")`).
    """
    minutes = f"{deployment_timeout_minutes(deployment)}m"
    ignored = ["desired_count"] + (["load_balancer"] if deployment.shifts_traffic else [])
    return dict(
        force_new_deployment=True,
        triggers={STRATEGY_TRIGGER: strategy_trigger(strategy)},
        wait_for_steady_state=True,
        sigint_rollback=True,
        timeouts=EcsServiceTimeouts(create=minutes, update=minutes),
        lifecycle=TerraformResourceLifecycle(ignore_changes=ignored),
    )
