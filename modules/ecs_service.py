"""One ECS service from a ServiceSpec: log group, IAM roles, SGs, task definition and service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from engine.core import ITerraformDependable, TerraformResourceLifecycle
from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.ecs_service import EcsService as AwsEcsService
from engine.aws.ecs_service import (
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentConfiguration,
    EcsServiceDeploymentConfigurationCanaryConfiguration,
    EcsServiceDeploymentConfigurationLifecycleHook,
    EcsServiceDeploymentConfigurationLinearConfiguration,
    EcsServiceLoadBalancer,
    EcsServiceLoadBalancerAdvancedConfiguration,
    EcsServiceOrderedPlacementStrategy,
    EcsServiceServiceConnectConfiguration,
    EcsServiceServiceConnectConfigurationLogConfiguration,
    EcsServiceServiceConnectConfigurationService,
    EcsServiceServiceConnectConfigurationServiceClientAlias,
)
from engine.aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionVolume,
)
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.iam_role_policy_attachment import IamRolePolicyAttachment
from engine.aws.security_group import SecurityGroup
from engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.checkov_skips import LOG_GROUP_DEFAULT_ENCRYPTION, retention_skips, skip_checks
from modules.exec_audit import ExecAccess, exec_statements
from modules.iam import assume_role_policy, managed_policy_arn, policy_json, statement
from modules.load_balancer import TrafficShift
from modules.service_config import ServiceConfig
from modules.task_definition import (
    CONFIG_FILES_VOLUME,
    ConfigAgentSidecar,
    ContainerProps,
    container_definitions_json,
    task_cpu,
    task_memory,
)
from settings.naming import PARTITION, log_group_name, pascal_case, resource_name
from settings.rules import traffic_shift_problem
from settings.services import (
    DEFAULT_BAKE_MINUTES,
    CanaryShift,
    DeploymentSpec,
    LinearShift,
    Rollout,
    ServiceSpec,
)

EXECUTION_MANAGED_POLICY = "service-role/AmazonECSTaskExecutionRolePolicy"
MIN_HEALTHY_PERCENT = 100
MAX_PERCENT = 200
"""Rolling deployments start new tasks before stopping old ones: never below desired count."""
HEALTH_CHECK_GRACE_SECONDS = 60
RUNTIME_ARCHITECTURES = {"x86_64": "X86_64", "arm64": "ARM64"}
"""Task definition `runtime_platform.cpu_architecture` per instance architecture."""
HTTPS = 443
QUEUE_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                          "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")


@dataclass(frozen=True)
class WorkQueueRef:
    """The service's own job queue (created by the services stack)."""

    arn: str
    url: str


@dataclass(frozen=True)
class ServiceConnectRef:
    """The env's Service Connect namespace (an HTTP namespace)."""

    namespace_arn: str
    namespace_name: str
    """`<env>.internal`: servers answer at `<service>.<namespace name>:<container port>`."""


SERVICE_CONNECT_LOG_PREFIX = "service-connect"
"""Stream prefix of the Service Connect proxy's logs in the service's log group."""


@dataclass(frozen=True)
class EcsServiceProps:
    """One service spec plus everything it runs on and consumes (strings may be tokens)."""

    env: str
    account_id: str
    region: str
    spec: ServiceSpec
    image: str
    """The app image URI (the spec's image, or this env's ECR repository for a build context)."""
    agent_image: str
    cluster_arn: str
    cluster_name: str
    capacity_provider_strategy: Sequence[tuple[str, int, int]]
    """(capacity provider name, base, weight) items: where the service's tasks run."""
    architecture: str
    """`x86_64` or `arm64`: the task's runtime platform, matching its capacity providers."""
    vpc_id: str
    subnet_ids: Sequence[str]
    config: ServiceConfig
    log_retention_days: int
    ecs_exec: ExecAccess | None = None
    """ECS Exec into the app container, audited through the cluster's exec key and session
    log; None: exec off."""
    work_queue: WorkQueueRef | None = None
    target_group_arn: str | None = None
    alb_security_group_id: str | None = None
    registry_arn: str | None = None
    service_connect: ServiceConnectRef | None = None
    """Join the env's Service Connect namespace (instead of `registry_arn` DNS records): as a
    server when `spec.service_discovery`, else as a client only."""
    traffic_shift: TrafficShift | None = None
    """The alternate target group, production/test rules and role for a service whose
    `spec.deployment` shifts traffic (BLUE_GREEN, CANARY, LINEAR)."""
    depends_on: Sequence[ITerraformDependable] = ()
    """E.g. the ALB listener: a target group must be attached before a service uses it."""


def service_name(env: str, service: str) -> str:
    """`<env>-<service>`: the ECS service name and task definition family."""
    return f"{env}-{service}"


class EcsService(Construct):
    """App + config-agent sidecar as an awsvpc ECS service on the cluster's capacity provider."""

    def __init__(self, scope: Construct, id_: str, props: EcsServiceProps) -> None:
        super().__init__(scope, id_)
        spec = props.spec
        if spec.name != props.config.service:
            raise ValueError(f"config resources are for {props.config.service!r}, "
                             f"not {spec.name!r}")
        if (props.target_group_arn is None) != (props.alb_security_group_id is None):
            raise ValueError("target_group_arn and alb_security_group_id go together")
        if props.target_group_arn is not None and spec.container_port is None:
            raise ValueError(f"{spec.name}: a load-balanced service needs a container_port")
        if problem := traffic_shift_problem(spec.deployment.strategy.value,
                                            props.traffic_shift is not None):
            raise ValueError(f"{spec.name}: {problem}")
        if props.traffic_shift is not None and not spec.deployment.shifts_traffic:
            raise ValueError(f"{spec.name}: a rolling service takes no traffic_shift")
        if props.service_connect is not None and props.registry_arn is not None:
            raise ValueError(f"{spec.name}: Service Connect replaces the DNS registry")
        serves = props.service_connect is not None and spec.service_discovery
        if serves and spec.container_port is None:
            raise ValueError(f"{spec.name}: a Service Connect server needs a container_port")
        self._port_name = spec.name if serves else None
        self._props = props
        self.name = service_name(props.env, spec.name)
        self._grants: list[ITerraformDependable] = []
        """The roles' policies: the service waits for them (IAM is eventually consistent)."""

        self.log_group = CloudwatchLogGroup(
            self, "LogGroup", name=log_group_name(props.env, spec.name),
            retention_in_days=props.log_retention_days)
        skip_checks(self.log_group, {"CKV_AWS_158": LOG_GROUP_DEFAULT_ENCRYPTION,
                                     **retention_skips(props.log_retention_days)})
        self.log_group_name = self.log_group.name

        self.execution_role = self._execution_role()
        self.task_role = self._task_role()
        self.security_group = self._security_groups()
        self.security_group_id = self.security_group.id

        app = ContainerProps(
            image=props.image, cpu=spec.cpu, memory=spec.memory, port=spec.container_port,
            port_name=self._port_name, environment=spec.environment,
            health_check=spec.health_check, command=spec.command, entry_point=spec.entry_point,
            files_path=spec.config_files_path)
        self.task_definition = EcsTaskDefinition(
            self, "TaskDefinition", family=self.name, network_mode="awsvpc",
            requires_compatibilities=["EC2"], cpu=str(task_cpu(spec.cpu)),
            runtime_platform={"cpu_architecture": RUNTIME_ARCHITECTURES[props.architecture],
                              "operating_system_family": "LINUX"},
            memory=str(task_memory(spec.memory)),
            execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn,
            container_definitions=container_definitions_json(
                spec.name, app, ConfigAgentSidecar(props.agent_image, props.config),
                self.log_group.name, props.region,
                props.work_queue.url if props.work_queue else None),
            volume=([EcsTaskDefinitionVolume(name=CONFIG_FILES_VOLUME)]
                    if spec.config_files_path else None))

        self.service = self._service()
        self.service_name = self.service.name

    def enable_deployment_alarms(self, alarm_names: Sequence[str]) -> None:
        """Fail and roll back a deployment while one of these alarms is in ALARM, during the
        rollout and its bake time (ECS Developer Guide, "How CloudWatch alarms detect Amazon
        ECS deployment failures"); as aws-cdk's `BaseService.enableDeploymentAlarms`."""
        if not alarm_names:
            raise ValueError(f"{self.name}: name at least one alarm")
        self.service.put_alarms(alarm_names=list(alarm_names), enable=True, rollback=True)

    # --- IAM -------------------------------------------------------------------------------

    def _trust(self) -> str:
        # The conditions AWS documents for task and task execution roles (ECS Developer
        # Guide, "Task IAM role" / "Task execution IAM role": confused deputy prevention).
        p = self._props
        return assume_role_policy("ecs-tasks.amazonaws.com", source_account=p.account_id,
                                  source_arn_like=f"arn:{PARTITION}:ecs:{p.region}:"
                                                  f"{p.account_id}:*")

    def _execution_role(self) -> IamRole:
        """What the ECS agent uses: pull, log, and read only the secret it injects."""
        p = self._props
        role = IamRole(self, "ExecutionRole",
                       name=resource_name(p.env, p.spec.name, "execution"),
                       assume_role_policy=self._trust())
        self._grants.append(IamRolePolicyAttachment(
            self, "ExecutionManagedPolicy", role=role.name,
            policy_arn=managed_policy_arn(EXECUTION_MANAGED_POLICY)))
        self._grants.append(IamRolePolicy(
            self, "ExecutionSecrets", role=role.id, name="inject-agent-token",
            policy=policy_json(*p.config.token_statements())))
        return role

    def task_role_statements(self) -> list[dict[str, Any]]:
        """The task role's grants: its agent's queues, its work queue, its config, ECS Exec."""
        p = self._props
        statements = p.config.agent_queue_statements(p.cluster_name)
        if p.work_queue:
            statements.append(statement(QUEUE_CONSUMER_ACTIONS, [p.work_queue.arn],
                                        sid="ConsumeWorkQueue"))
        statements += p.config.read_statements()
        if p.ecs_exec is not None:
            statements.extend(exec_statements(p.ecs_exec.key_arn, p.ecs_exec.log_group_arn))
        return statements

    def _task_role(self) -> IamRole:
        p = self._props
        role = IamRole(self, "TaskRole", name=resource_name(p.env, p.spec.name, "task"),
                       assume_role_policy=self._trust())
        self._grants.append(IamRolePolicy(self, "TaskPolicy", role=role.id,
                                          name="own-resources",
                                          policy=policy_json(*self.task_role_statements())))
        return role

    # --- network ---------------------------------------------------------------------------

    def _security_groups(self) -> SecurityGroup:
        """Task SG (awsvpc: one per service); ingress only from the ALB SG; optional DB SG.

        Declared callers are added later by `allow_from`. The SG description keeps its
        original text: changing it would make Terraform replace an SG in use by task ENIs."""
        p = self._props
        spec = p.spec
        name = resource_name(p.env, spec.name, "tasks")
        sg = SecurityGroup(self, "SecurityGroup", name=name, vpc_id=p.vpc_id,
                           description=f"{spec.name} tasks: ingress only from the ALB",
                           tags={"Name": name})
        if p.alb_security_group_id is not None and spec.container_port is not None:
            VpcSecurityGroupIngressRule(
                self, "IngressFromAlb", security_group_id=sg.id,
                description="container port from the ALB only", ip_protocol="tcp",
                from_port=spec.container_port, to_port=spec.container_port,
                referenced_security_group_id=p.alb_security_group_id)
        VpcSecurityGroupEgressRule(
            self, "EgressHttps", security_group_id=sg.id,
            description="HTTPS to AWS APIs (ECR, SQS, AppConfig, Secrets Manager, Logs)",
            ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ipv4="0.0.0.0/0")
        self.database_security_group: SecurityGroup | None = None
        self.database_security_group_id: str | None = None
        if spec.database_port is not None:
            db_name = resource_name(p.env, spec.name, "db")
            db = SecurityGroup(self, "DatabaseSecurityGroup", name=db_name, vpc_id=p.vpc_id,
                               description=f"{spec.name} database: ingress only from its tasks",
                               tags={"Name": db_name})
            VpcSecurityGroupIngressRule(
                self, "DatabaseIngressFromService", security_group_id=db.id,
                description=f"port {spec.database_port} from {spec.name} tasks only",
                ip_protocol="tcp", from_port=spec.database_port, to_port=spec.database_port,
                referenced_security_group_id=sg.id)
            VpcSecurityGroupEgressRule(
                self, "EgressToDatabase", security_group_id=sg.id,
                description=f"to the {spec.name} database", ip_protocol="tcp",
                from_port=spec.database_port, to_port=spec.database_port,
                referenced_security_group_id=db.id)
            skip_checks(db, {"CKV2_AWS_5": "created here so the service SG chain is complete; "
                                           "the database (outside this stack) attaches it via the "
                                           "database_security_group_ids output"})
            self.database_security_group = db
            self.database_security_group_id = db.id
        return sg

    def allow_from(self, caller: "EcsService") -> None:
        """Let `caller`'s tasks reach this service's container port, SG to SG both ways."""
        spec, port = self._props.spec, self._props.spec.container_port
        if port is None:
            raise ValueError(f"{spec.name}: callers need a container_port to reach")
        if caller is self:
            raise ValueError(f"{spec.name}: a service cannot be its own caller")
        caller_name = caller._props.spec.name
        VpcSecurityGroupIngressRule(
            self, f"IngressFromService{pascal_case(caller_name)}",
            security_group_id=self.security_group.id,
            description=f"container port from {caller_name} tasks (allow_from)",
            ip_protocol="tcp", from_port=port, to_port=port,
            referenced_security_group_id=caller.security_group.id)
        # Task SGs have restricted egress, so the caller needs the matching way out.
        VpcSecurityGroupEgressRule(
            caller, f"EgressToService{pascal_case(spec.name)}",
            security_group_id=caller.security_group.id,
            description=f"to {spec.name} tasks (allow_from)", ip_protocol="tcp",
            from_port=port, to_port=port, referenced_security_group_id=self.security_group.id)

    # --- service ---------------------------------------------------------------------------

    def _hooks_role(self) -> IamRole:
        """What ECS assumes to invoke the service's lifecycle hooks: InvokeFunction on those
        functions only (ECS Developer Guide, "Permissions required for Lambda functions in
        Amazon ECS blue/green deployments"; the documented trust has no conditions)."""
        p = self._props
        role = IamRole(self, "DeploymentHooksRole",
                       name=resource_name(p.env, p.spec.name, "deploy-hooks"),
                       assume_role_policy=assume_role_policy("ecs.amazonaws.com"))
        functions = sorted({h.function_arn for h in p.spec.deployment.lifecycle_hooks})
        self._grants.append(IamRolePolicy(
            self, "DeploymentHooksPolicy", role=role.id, name="invoke-lifecycle-hooks",
            policy=policy_json(statement(["lambda:InvokeFunction"], functions,
                                         sid="InvokeLifecycleHooks"))))
        return role

    def _deployment(self) -> dict[str, Any]:
        """The service arguments of its deployment strategy.

        ROLLING keeps the circuit breaker, which ECS supports for rolling updates only (API
        reference, DeploymentCircuitBreaker); the traffic-shifting strategies roll back on the
        deployment alarms and lifecycle hooks, during the shift and the bake time.
        """
        p = self._props
        d: DeploymentSpec = p.spec.deployment
        if not d.shifts_traffic:
            return {"deployment_circuit_breaker": {"enable": True, "rollback": True}}
        config: dict[str, Any] = {
            "strategy": d.strategy.value,
            "bake_time_in_minutes": str(DEFAULT_BAKE_MINUTES if d.bake_minutes is None
                                        else d.bake_minutes)}
        if d.strategy is Rollout.CANARY:
            canary = d.canary or CanaryShift()
            config["canary_configuration"] = EcsServiceDeploymentConfigurationCanaryConfiguration(
                canary_percent=canary.percent,
                canary_bake_time_in_minutes=str(canary.bake_minutes))
        if d.strategy is Rollout.LINEAR:
            linear = d.linear or LinearShift()
            config["linear_configuration"] = EcsServiceDeploymentConfigurationLinearConfiguration(
                step_percent=linear.step_percent,
                step_bake_time_in_minutes=str(linear.step_bake_minutes))
        if d.lifecycle_hooks:
            role = self._hooks_role()
            config["lifecycle_hook"] = [EcsServiceDeploymentConfigurationLifecycleHook(
                hook_target_arn=hook.function_arn, lifecycle_stages=list(hook.stages),
                role_arn=role.arn) for hook in d.lifecycle_hooks]
        return {"deployment_controller": {"type": "ECS"},
                "deployment_configuration": EcsServiceDeploymentConfiguration(**config)}

    def _service_connect(self, ref: ServiceConnectRef) -> EcsServiceServiceConnectConfiguration:
        """Client of the namespace, and server of `<service>.<namespace>:<port>` when the
        spec is discoverable; the proxy logs to the service's log group (its access logs:
        provider 6.25 has no `access_log_configuration` block yet)."""
        p = self._props
        spec = p.spec
        servers = [] if self._port_name is None else [
            EcsServiceServiceConnectConfigurationService(
                port_name=self._port_name, discovery_name=spec.name,
                client_alias=EcsServiceServiceConnectConfigurationServiceClientAlias(
                    port=spec.container_port, dns_name=f"{spec.name}.{ref.namespace_name}"))]
        return EcsServiceServiceConnectConfiguration(
            enabled=True, namespace=ref.namespace_arn, service=servers or None,
            log_configuration=EcsServiceServiceConnectConfigurationLogConfiguration(
                log_driver="awslogs", options={
                    "awslogs-group": self.log_group.name, "awslogs-region": p.region,
                    "awslogs-stream-prefix": SERVICE_CONNECT_LOG_PREFIX}))

    def _service(self) -> AwsEcsService:
        p = self._props
        spec = p.spec
        extra: dict[str, Any] = self._deployment()
        if p.target_group_arn is not None:
            shift = p.traffic_shift
            advanced = None if shift is None else EcsServiceLoadBalancerAdvancedConfiguration(
                alternate_target_group_arn=shift.alternate_target_group_arn,
                production_listener_rule=shift.production_listener_rule_arn,
                test_listener_rule=shift.test_listener_rule_arn, role_arn=shift.role_arn)
            extra["load_balancer"] = [EcsServiceLoadBalancer(
                target_group_arn=p.target_group_arn, container_name=spec.name,
                container_port=spec.container_port, advanced_configuration=advanced)]
            extra["health_check_grace_period_seconds"] = HEALTH_CHECK_GRACE_SECONDS
        if p.registry_arn is not None:
            extra["service_registries"] = {"registry_arn": p.registry_arn}
        if p.service_connect is not None:
            extra["service_connect_configuration"] = self._service_connect(p.service_connect)
        # Without the grants in place, the first tasks fail secret injection or their
        # agent's AWS calls (AccessDenied) and count toward the circuit breaker.
        extra["depends_on"] = [*p.depends_on, *self._grants]
        return AwsEcsService(
            self, "Service", name=self.name, cluster=p.cluster_arn,
            task_definition=self.task_definition.arn, desired_count=spec.desired_count,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(capacity_provider=name, base=base,
                                                   weight=weight)
                for name, base, weight in p.capacity_provider_strategy],
            deployment_minimum_healthy_percent=MIN_HEALTHY_PERCENT,
            deployment_maximum_percent=MAX_PERCENT,
            ordered_placement_strategy=[
                EcsServiceOrderedPlacementStrategy(type="spread",
                                                   field="attribute:ecs.availability-zone"),
                EcsServiceOrderedPlacementStrategy(type="binpack", field="memory")],
            network_configuration={"subnets": p.subnet_ids, "security_groups": [
                self.security_group.id], "assign_public_ip": False},
            enable_execute_command=p.ecs_exec is not None, propagate_tags="SERVICE",
            enable_ecs_managed_tags=True, wait_for_steady_state=False,
            # Application Auto Scaling owns the task count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]),
            **extra)
