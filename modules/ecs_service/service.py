"""The `EcsService` construct: its log group, roles, task security group, task definition and
ECS service, and the methods that wire it to a load balancer, Cloud Map or Service Connect,
a database and its callers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jsii
from constructs import Construct, IValidation

from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.ecs_service import EcsService as AwsEcsService
from engine.aws.ecs_service import (
    EcsServiceCapacityProviderStrategy,
    EcsServiceOrderedPlacementStrategy,
)
from engine.aws.ecs_task_definition import EcsTaskDefinition, EcsTaskDefinitionVolume
from engine.aws.security_group import SecurityGroup
from engine.core import TerraformResource
from modules.checkov_skips import LOG_GROUP_DEFAULT_ENCRYPTION, retention_skips, skip_checks
from modules.ecs_service.deployment import (
    deployment_arguments,
    load_balancer_block,
    service_connect_configuration,
    update_arguments,
)
from modules.ecs_service.props import EcsServiceProps, TargetGroupAttachment
from modules.ecs_service.roles import (
    execution_role,
    lifecycle_hooks_role,
    task_role,
    task_role_statements,
)
from modules.ecs_service.security_groups import (
    database_security_group,
    egress_to,
    ingress_from,
    task_security_group,
)
from modules.task_definition import (
    CONFIG_FILES_VOLUME,
    container_definitions_json,
    log_routing_statements,
    task_cpu,
    task_memory,
)
from settings.naming import log_group_name, pascal_case, resource_name

if TYPE_CHECKING:
    from modules.service_discovery import ServiceConnectNamespace, ServiceDiscovery

MIN_HEALTHY_PERCENT = 100
MAX_PERCENT = 200
"""Rolling deployments start new tasks before stopping old ones: never below desired count."""
HEALTH_CHECK_GRACE_SECONDS = 60
RUNTIME_ARCHITECTURES = {"x86_64": "X86_64", "arm64": "ARM64"}
"""Task definition `runtime_platform.cpu_architecture` per instance architecture."""


def service_name(env: str, service: str) -> str:
    """`<env>-<service>`: the ECS service name and task definition family."""
    return f"{env}-{service}"


def terraform_address(resource: TerraformResource) -> str:
    """`<type>.<logical id>`: how `depends_on` names a resource of the same stack (what cdktf
    writes for a `depends_on` given at construction)."""
    return f"{resource.terraform_resource_type}.{resource.friendly_unique_id}"


@jsii.implements(IValidation)
class _SynthCheck:
    """An invariant cdktf checks at synth, after every method had its chance to wire."""

    def __init__(self, problems: Callable[[], list[str]]) -> None:
        self._problems = problems

    def validate(self) -> list[str]:
        return self._problems()


class EcsService(Construct):
    """App + config-agent sidecar as an awsvpc ECS service on the cluster's capacity providers.

    Wired like aws-cdk's `BaseService`: `LoadBalancer.add_target(service)`, `enable_cloud_map`
    or `enable_service_connect`, `add_database`, `allow_from`, `enable_deployment_alarms`.
    """

    def __init__(self, scope: Construct, id_: str, props: EcsServiceProps) -> None:
        super().__init__(scope, id_)
        if props.agent.config.service != props.name:
            raise ValueError(
                f"config resources are for {props.agent.config.service!r}, not {props.name!r}"
            )
        if props.placement.architecture not in RUNTIME_ARCHITECTURES:
            raise ValueError(
                f"{props.name}: architecture must be one of {', '.join(RUNTIME_ARCHITECTURES)}"
            )
        self._props = props
        self.name = service_name(props.env, props.name)
        self.container_name = props.name
        self.container_port = props.container.port
        self.cluster_name = props.cluster.name
        self.log_group = self._log_group()
        self.log_group_name = self.log_group.name
        self.execution_role, self._grants = execution_role(
            self, self._resource_name("execution"), props.cluster, props.agent.config
        )
        """The grants are the roles' policies: the service waits for them (IAM is eventually
        consistent, and AccessDenied tasks count toward the circuit breaker)."""
        self.task_role, task_policy = task_role(
            self,
            self._resource_name("task"),
            props.cluster,
            [
                *task_role_statements(props.agent.config, props.cluster, props.work_queue),
                *log_routing_statements(props.container),
            ],
        )
        self._grants.append(task_policy)
        self.security_group = task_security_group(
            self, self._resource_name("tasks"), props.name, props.placement.vpc_id
        )
        self.security_group_id = self.security_group.id
        self.database_security_group: SecurityGroup | None = None
        self.database_security_group_id: str | None = None
        self.task_definition = self._task_definition()
        self.service = self._service()
        self.service_name = self.service.name
        self._target_group: TargetGroupAttachment | None = None
        self._discovery: str | None = None
        if props.deployment.shifts_traffic:
            self.node.add_validation(_SynthCheck(self._unshifted))

    def _resource_name(self, purpose: str) -> str:
        return resource_name(self._props.env, self._props.name, purpose)

    def _log_group(self) -> CloudwatchLogGroup:
        p = self._props
        group = CloudwatchLogGroup(
            self,
            "LogGroup",
            name=log_group_name(p.env, p.name),
            retention_in_days=p.log_retention_days,
        )
        skip_checks(
            group,
            {"CKV_AWS_158": LOG_GROUP_DEFAULT_ENCRYPTION, **retention_skips(p.log_retention_days)},
        )
        return group

    def _task_definition(self) -> EcsTaskDefinition:
        p, app = self._props, self._props.container
        return EcsTaskDefinition(
            self,
            "TaskDefinition",
            family=self.name,
            network_mode="awsvpc",
            requires_compatibilities=["EC2"],
            cpu=str(task_cpu(app.cpu, app.log_routing is not None)),
            runtime_platform={
                "cpu_architecture": RUNTIME_ARCHITECTURES[p.placement.architecture],
                "operating_system_family": "LINUX",
            },
            memory=str(task_memory(app.memory, app.log_routing is not None)),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=container_definitions_json(
                p.name,
                app,
                p.agent,
                self.log_group.name,
                p.cluster.region,
                p.work_queue.url if p.work_queue is not None else None,
            ),
            volume=[EcsTaskDefinitionVolume(name=CONFIG_FILES_VOLUME)] if app.files_path else None,
        )

    def _service(self) -> AwsEcsService:
        p = self._props
        hooks_role = None
        if p.deployment.lifecycle_hooks:
            hooks_role, hooks_policy = lifecycle_hooks_role(
                self,
                self._resource_name("deploy-hooks"),
                [hook.function_arn for hook in p.deployment.lifecycle_hooks],
            )
            self._grants.append(hooks_policy)
        return AwsEcsService(
            self,
            "Service",
            name=self.name,
            cluster=p.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=p.desired_count,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(capacity_provider=name, base=base, weight=weight)
                for name, base, weight in p.placement.capacity_provider_strategy
            ],
            deployment_minimum_healthy_percent=MIN_HEALTHY_PERCENT,
            deployment_maximum_percent=MAX_PERCENT,
            ordered_placement_strategy=[
                EcsServiceOrderedPlacementStrategy(
                    type="spread", field="attribute:ecs.availability-zone"
                ),
                EcsServiceOrderedPlacementStrategy(type="binpack", field="memory"),
            ],
            network_configuration={
                "subnets": p.placement.subnet_ids,
                "security_groups": [self.security_group.id],
                "assign_public_ip": False,
            },
            enable_execute_command=p.cluster.exec_access is not None,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            depends_on=list(self._grants),
            **update_arguments(p.placement.capacity_provider_strategy, p.deployment),
            **deployment_arguments(p.deployment, hooks_role.arn if hooks_role else None),
        )

    # --- traffic -------------------------------------------------------------------------

    def attach_to_target_group(self, attachment: TargetGroupAttachment) -> None:
        """Register the tasks' container port in a target group, admitting the ALB's SG only
        (as aws-cdk's `attachToApplicationTargetGroup`; `LoadBalancer.add_target` calls it)."""
        port = self.container_port
        if port is None:
            raise ValueError(f"{self.name}: a load-balanced service needs a container port")
        if self._target_group is not None:
            raise ValueError(f"{self.name}: already behind a target group")
        shifts = self._props.deployment.shifts_traffic
        if shifts != (attachment.traffic_shift is not None):
            raise ValueError(
                f"{self.name}: a {self._props.deployment.strategy.value} "
                f"deployment {'needs' if shifts else 'takes no'} traffic shift"
            )
        ingress_from(
            self,
            "IngressFromAlb",
            self.security_group.id,
            attachment.security_group_id,
            port,
            "container port from the ALB only",
        )
        self.service.put_load_balancer([load_balancer_block(attachment, self.container_name, port)])
        self.service.health_check_grace_period_seconds = HEALTH_CHECK_GRACE_SECONDS
        # The listeners and rules first: ECS refuses a target group no listener forwards to.
        self.service.depends_on = [
            *map(terraform_address, attachment.depends_on),
            *(self.service.depends_on or []),
        ]
        self._target_group = attachment

    def _unshifted(self) -> list[str]:
        if self._target_group is not None:
            return []
        return [
            (
                f"{self.name}: a {self._props.deployment.strategy.value} deployment shifts "
                "traffic between ALB target groups: put the service behind one with "
                "LoadBalancer.add_target"
            )
        ]

    def enable_cloud_map(self, discovery: ServiceDiscovery) -> None:
        """DNS A records `<name>.<namespace>` of the running tasks (awsvpc IPs)."""
        self._discover_with("Cloud Map")
        self.service.put_service_registries(registry_arn=discovery.register(self.container_name))

    def enable_service_connect(self, namespace: ServiceConnectNamespace) -> None:
        """Join the namespace as a client, and serve `<name>.<namespace>:<port>` when the
        container names its port (`ContainerProps.port_name`)."""
        self._discover_with("Service Connect")
        p = self._props
        port_name, port = p.container.port_name, self.container_port
        # ContainerProps rejects a port name without a port: `port is None` only narrows the type.
        server = (
            None if port_name is None or port is None else (port_name, self.container_name, port)
        )
        self.service.put_service_connect_configuration(
            **service_connect_configuration(
                namespace.arn,
                namespace.namespace_name,
                server,
                self.log_group.name,
                p.cluster.region,
            )
        )

    def _discover_with(self, kind: str) -> None:
        if self._discovery is not None:
            raise ValueError(
                f"{self.name}: already discoverable through {self._discovery}; "
                "Service Connect replaces the DNS registry"
            )
        self._discovery = kind

    def enable_deployment_alarms(self, alarm_names: Sequence[str]) -> None:
        """Fail and roll back a deployment while one of these alarms is in ALARM, during the
        rollout and its bake time (ECS Developer Guide, "How CloudWatch alarms detect Amazon
        ECS deployment failures"); as aws-cdk's `BaseService.enableDeploymentAlarms`."""
        if not alarm_names:
            raise ValueError(f"{self.name}: name at least one alarm")
        self.service.put_alarms(alarm_names=list(alarm_names), enable=True, rollback=True)

    # --- network -------------------------------------------------------------------------

    def add_database(self, port: int) -> SecurityGroup:
        """A SG for the service's database (created outside this stack, which attaches it),
        admitting `port` from this service's tasks only."""
        if self.database_security_group is not None:
            raise ValueError(f"{self.name}: has a database security group already")
        self.database_security_group = database_security_group(
            self,
            self._resource_name("db"),
            self.container_name,
            self._props.placement.vpc_id,
            self.security_group.id,
            port,
        )
        self.database_security_group_id = self.database_security_group.id
        return self.database_security_group

    def allow_from(self, caller: EcsService) -> None:
        """Let `caller`'s tasks reach this service's container port, SG to SG both ways."""
        port = self.container_port
        if port is None:
            raise ValueError(f"{self.container_name}: callers need a container_port to reach")
        if caller is self:
            raise ValueError(f"{self.container_name}: a service cannot be its own caller")
        ingress_from(
            self,
            f"IngressFromService{pascal_case(caller.container_name)}",
            self.security_group.id,
            caller.security_group.id,
            port,
            f"container port from {caller.container_name} tasks (allow_from)",
        )
        # Task SGs have restricted egress, so the caller needs the matching way out.
        egress_to(
            caller,
            f"EgressToService{pascal_case(self.container_name)}",
            caller.security_group.id,
            self.security_group.id,
            port,
            f"to {self.container_name} tasks (allow_from)",
        )
