"""One ECS service of the AWS CDK comparison app: task definition (app + config-agent sidecar),
Ec2Service, security groups, autoscaling and deployment alarms, from a ServiceSpec."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from bench.awscdk.base import pascal, retention
from bench.awscdk.config_stack import ServiceConfig
from bench.awscdk.envs import EnvPlan
from modules import service_config
from modules.task_definition import (
    AGENT_CONTAINER,
    AGENT_CPU,
    AGENT_HEALTH_CHECK,
    AGENT_MEMORY,
    TOKEN_VARIABLE,
    agent_variables,
    app_variables,
)
from settings.naming import log_group_name, resource_name
from settings.services import HealthCheck, ServiceSpec


@dataclass(frozen=True)
class ServiceInputs:
    """What one service takes from the other stacks (references, not copied fields)."""

    cluster: ecs.ICluster
    strategies: list[ecs.CapacityProviderStrategy]
    vpc: ec2.IVpc
    config: ServiceConfig
    app_image: ecs.ContainerImage
    agent_image: ecs.ContainerImage
    namespace: servicediscovery.IPrivateDnsNamespace | None
    target_group: elbv2.ApplicationTargetGroup | None
    load_balancer: elbv2.ApplicationLoadBalancer | None


def _health_check(hc: HealthCheck) -> ecs.HealthCheck:
    return ecs.HealthCheck(
        command=list(hc.command),
        interval=Duration.seconds(hc.interval_seconds),
        timeout=Duration.seconds(hc.timeout_seconds),
        retries=hc.retries,
        start_period=Duration.seconds(hc.start_period_seconds),
    )


class Service(Construct):
    """The service (`self.service`), its security group and its work queue, if any."""

    def __init__(
        self, scope: Construct, id_: str, env: EnvPlan, spec: ServiceSpec, inputs: ServiceInputs
    ) -> None:
        super().__init__(scope, id_)
        self.spec, self.env = spec, env
        self.name = resource_name(env.name, spec.name, "service")
        self.queue = self._work_queue() if spec.work_queue else None
        task = self._task_definition(inputs)
        self.security_group = ec2.SecurityGroup(
            self, "Tasks", vpc=inputs.vpc, description=f"{spec.name} tasks"
        )
        alarms = self._alarms(inputs)
        self.service = ecs.Ec2Service(
            self,
            "Service",
            cluster=inputs.cluster,
            task_definition=task,
            service_name=self.name,
            desired_count=spec.desired_count,
            capacity_provider_strategies=inputs.strategies,
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            deployment_alarms=ecs.DeploymentAlarmConfig(
                alarm_names=[alarm.alarm_name for alarm in alarms]
            ),
            enable_execute_command=env.services_settings.ecs_exec_enabled,
            placement_strategies=[
                ecs.PlacementStrategy.spread_across_instances(),
                ecs.PlacementStrategy.packed_by_memory(),
            ],
            cloud_map_options=(
                ecs.CloudMapOptions(
                    cloud_map_namespace=inputs.namespace,
                    name=spec.name,
                    dns_record_type=servicediscovery.DnsRecordType.A,
                )
                if inputs.namespace is not None and spec.service_discovery
                else None
            ),
        )
        if inputs.target_group is not None:
            self.service.attach_to_application_target_group(inputs.target_group)
            self.security_group.connections.allow_from(
                inputs.load_balancer, ec2.Port.tcp(spec.container_port)
            )
        if spec.database_port is not None:
            database = ec2.SecurityGroup(
                self, "Database", vpc=inputs.vpc, description=f"{spec.name} database"
            )
            database.add_ingress_rule(self.security_group, ec2.Port.tcp(spec.database_port))
        self._autoscale(inputs)

    def allow_from(self, caller: Service) -> None:
        """Let `caller`'s tasks call this service on its container port."""
        self.security_group.connections.allow_from(
            caller.security_group, ec2.Port.tcp(self.spec.container_port)
        )

    def _work_queue(self) -> sqs.Queue:
        name = resource_name(self.env.name, self.spec.name, "jobs")
        dlq = sqs.Queue(
            self,
            "JobsDlq",
            queue_name=f"{name}-dlq",
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14),
        )
        return sqs.Queue(
            self,
            "Jobs",
            queue_name=name,
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dlq, max_receive_count=self.env.pipeline.dlq_max_receive_count
            ),
        )

    def _task_definition(self, inputs: ServiceInputs) -> ecs.Ec2TaskDefinition:
        spec, env, cfg = self.spec, self.env, inputs.config
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name(env.name, spec.name),
            retention=retention(env.services_settings.log_retention_days),
        )
        task = ecs.Ec2TaskDefinition(
            self,
            "Task",
            family=resource_name(env.name, spec.name, "task"),
            network_mode=ecs.NetworkMode.AWS_VPC,
        )
        strings = self._service_strings(cfg)
        # Secrets by ARN: a grant on the config stack's own Secret would also add this stack's
        # roles to that stack's key policy (via secretsmanager), a cycle between the stacks.
        self.secrets = [
            secretsmanager.Secret.from_secret_complete_arn(
                self, f"Secret{pascal(name)}", secret.secret_arn
            )
            for name, secret in (*cfg.secrets.items(), ("agent-token", cfg.agent_token))
        ]
        self._containers(task, inputs, strings, log_group)
        self._grant(task.task_role, cfg)
        return task

    def _service_strings(self, cfg: ServiceConfig) -> service_config.ServiceConfig:
        """The names and ARNs the app and its sidecar read from their environment."""
        spec, env = self.spec, self.env
        return service_config.ServiceConfig(
            service=spec.name,
            account_id=env.account,
            region=env.region,
            key_arn=cfg.key.key_arn,
            queues=service_config.AgentQueues(
                topic_arn=cfg.topic.topic_arn,
                dlq_arn=cfg.dlq.queue_arn,
                queue_name_prefix=resource_name(env.name, spec.name, "cfg") + "-",
                max_receive_count=env.pipeline.dlq_max_receive_count,
            ),
            token_secret_arn=cfg.agent_token.secret_arn,
            secret_arns={name: s.secret_arn for name, s in cfg.secrets.items()},
            profile=service_config.ProfileRef(
                application_id=cfg.application_id,
                environment_id=cfg.environment_id,
                profile_id=cfg.profile.configuration_profile_id,
            )
            if cfg.profile
            else None,
        )

    def _containers(
        self,
        task: ecs.Ec2TaskDefinition,
        inputs: ServiceInputs,
        strings: service_config.ServiceConfig,
        log_group: logs.LogGroup,
    ) -> None:
        """The app and its config-agent sidecar; the app starts once the agent is healthy."""
        spec, env = self.spec, self.env
        work_queue_url = self.queue.queue_url if self.queue else None
        token = {TOKEN_VARIABLE: ecs.Secret.from_secrets_manager(self.secrets[-1])}
        app = task.add_container(
            "App",
            container_name=spec.name,
            image=inputs.app_image,
            cpu=spec.cpu,
            memory_limit_mib=spec.memory,
            environment=app_variables(spec.environment, strings, env.region, work_queue_url),
            secrets=token,
            essential=True,
            command=list(spec.command) or None,
            entry_point=list(spec.entry_point) or None,
            health_check=_health_check(spec.health_check) if spec.health_check else None,
            port_mappings=(
                [ecs.PortMapping(container_port=spec.container_port)]
                if spec.container_port
                else None
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.name, log_group=log_group),
        )
        agent = task.add_container(
            "Agent",
            container_name=AGENT_CONTAINER,
            image=inputs.agent_image,
            cpu=AGENT_CPU,
            memory_limit_mib=AGENT_MEMORY,
            environment=agent_variables(strings, env.region),
            secrets=token,
            essential=True,
            readonly_root_filesystem=True,
            health_check=_health_check(AGENT_HEALTH_CHECK),
            logging=ecs.LogDrivers.aws_logs(stream_prefix=AGENT_CONTAINER, log_group=log_group),
        )
        app.add_container_dependencies(
            ecs.ContainerDependency(
                container=agent, condition=ecs.ContainerDependencyCondition.HEALTHY
            )
        )

    def _grant(self, role: iam.IRole, cfg: ServiceConfig) -> None:
        """The sidecar's access: read its secrets and profile, run its own queue on the topic."""
        for secret in self.secrets:
            secret.grant_read(role)
        cfg.key.grant_encrypt_decrypt(role)
        prefix = resource_name(self.env.name, self.spec.name, "cfg")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:TagQueue",
                ],
                resources=[f"arn:aws:sqs:{self.env.region}:{self.env.account}:{prefix}-*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Subscribe", "sns:Unsubscribe"], resources=[cfg.topic.topic_arn]
            )
        )
        if cfg.profile is not None:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        "appconfig:StartConfigurationSession",
                        "appconfig:GetLatestConfiguration",
                    ],
                    resources=[
                        (
                            f"arn:aws:appconfig:{self.env.region}:{self.env.account}:application/"
                            f"{cfg.application_id}/environment/{cfg.environment_id}/configuration/"
                            f"{cfg.profile.configuration_profile_id}"
                        )
                    ],
                )
            )
        if self.queue is not None:
            self.queue.grant_consume_messages(role)

    def _alarms(self, inputs: ServiceInputs) -> list[cloudwatch.Alarm]:
        """The alarms a deployment rolls back on, as our ServiceAlarms: every service's
        running-below-desired, an ALB service's 5xx rate, unhealthy targets and p99 latency, a
        queue worker's oldest-message age."""
        alarms = [self._running_alarm(inputs)]
        if inputs.target_group is not None:
            alarms += self._target_group_alarms(inputs.target_group)
        a, name = self.spec.alarms, self.name
        if self.queue is not None:
            alarms.append(
                self.queue.metric_approximate_age_of_oldest_message().create_alarm(
                    self,
                    "QueueOldestMessageAge",
                    alarm_name=f"{name}-queue-oldest-message-age",
                    threshold=a.max_queue_age_seconds,
                    evaluation_periods=10,
                )
            )
        return alarms

    def _running_alarm(self, inputs: ServiceInputs) -> cloudwatch.Alarm:
        """Fewer tasks running than desired, from Container Insights."""
        a, name = self.spec.alarms, self.name
        dims = {"ClusterName": inputs.cluster.cluster_name, "ServiceName": name}
        insights = {
            "namespace": "ECS/ContainerInsights",
            "dimensions_map": dims,
            "period": Duration.minutes(1),
        }
        return cloudwatch.MathExpression(
            expression="desired - running",
            using_metrics={
                "running": cloudwatch.Metric(
                    metric_name="RunningTaskCount", statistic="Minimum", **insights
                ),
                "desired": cloudwatch.Metric(
                    metric_name="DesiredTaskCount", statistic="Maximum", **insights
                ),
            },
        ).create_alarm(
            self,
            "RunningBelowDesired",
            alarm_name=f"{name}-running-below-desired",
            threshold=0,
            evaluation_periods=a.missing_tasks_minutes,
        )

    def _target_group_alarms(self, group: elbv2.ApplicationTargetGroup) -> list[cloudwatch.Alarm]:
        """An ALB service's 5xx rate, unhealthy targets and p99 latency."""
        a, name, tg = self.spec.alarms, self.name, group.metrics
        return [
            cloudwatch.MathExpression(
                expression="100 * errors / MAX([errors, requests])",
                period=Duration.minutes(1),
                using_metrics={
                    "errors": tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT),
                    "requests": tg.request_count(),
                },
            ).create_alarm(
                self,
                "Target5xxRate",
                alarm_name=f"{name}-target-5xx-rate",
                threshold=a.max_5xx_percent,
                evaluation_periods=3,
            ),
            tg.unhealthy_host_count().create_alarm(
                self,
                "UnhealthyTargets",
                alarm_name=f"{name}-unhealthy-targets",
                threshold=0,
                evaluation_periods=3,
            ),
            tg.target_response_time(statistic="p99").create_alarm(
                self,
                "P99Latency",
                alarm_name=f"{name}-p99-latency",
                threshold=a.max_p99_latency_seconds,
                evaluation_periods=5,
            ),
        ]

    def _autoscale(self, inputs: ServiceInputs) -> None:
        sc = self.spec.scaling
        scaling = self.service.auto_scale_task_count(
            min_capacity=sc.min_tasks, max_capacity=sc.max_tasks
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=sc.cpu_target_percent)
        scaling.scale_on_memory_utilization(
            "Memory", target_utilization_percent=sc.memory_target_percent
        )
        if sc.requests_per_target is not None and inputs.target_group is not None:
            scaling.scale_on_request_count(
                "Requests",
                requests_per_target=sc.requests_per_target,
                target_group=inputs.target_group,
            )
        if sc.queue_scaling and self.queue is not None:
            scaling.scale_on_metric(
                "Backlog",
                metric=self.queue.metric_approximate_number_of_messages_visible(),
                adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
                scaling_steps=[
                    appscaling.ScalingInterval(upper=0, change=-1),
                    appscaling.ScalingInterval(lower=sc.backlog_per_task, change=+1),
                    appscaling.ScalingInterval(lower=5 * sc.backlog_per_task, change=+3),
                ],
            )
        off = self.env.off_hours
        if off is not None:
            floor = max(off.min_tasks, 1 if sc.queue_scaling else 0)
            zone = TimeZone.of(off.timezone)
            scaling.scale_on_schedule(
                "OffHours",
                schedule=appscaling.Schedule.expression(off.scale_in_at),
                time_zone=zone,
                min_capacity=floor,
            )
            scaling.scale_on_schedule(
                "WorkingHours",
                schedule=appscaling.Schedule.expression(off.scale_out_at),
                time_zone=zone,
                min_capacity=sc.min_tasks,
            )
