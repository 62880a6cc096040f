"""The IAM roles of one ECS service: the execution role (the ECS agent pulls, logs and injects
the agent token), the task role (the app and its config agent) and, with lifecycle hooks, the
role ECS invokes them with. Each role's policy is returned too: the service waits for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from constructs import Construct

from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.iam_role_policy_attachment import IamRolePolicyAttachment
from engine.core import TerraformResource
from modules.ecs_cluster import ClusterRef
from modules.exec_audit import exec_statements
from modules.iam import assume_role_policy, managed_policy_arn, policy_json, statement
from modules.service_config import ServiceConfig
from settings.naming import PARTITION

if TYPE_CHECKING:
    from modules.work_queue import WorkQueue

EXECUTION_MANAGED_POLICY = "service-role/AmazonECSTaskExecutionRolePolicy"
QUEUE_CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


def task_trust_policy(cluster: ClusterRef) -> str:
    """The conditions AWS documents for task and task execution roles (ECS Developer Guide,
    "Task IAM role" / "Task execution IAM role": confused deputy prevention)."""
    return assume_role_policy(
        "ecs-tasks.amazonaws.com",
        source_account=cluster.account_id,
        source_arn_like=f"arn:{PARTITION}:ecs:{cluster.region}:{cluster.account_id}:*",
    )


def execution_role(
    scope: Construct, name: str, cluster: ClusterRef, config: ServiceConfig
) -> tuple[IamRole, list[TerraformResource]]:
    """What the ECS agent uses: pull, log, and read only the secret it injects."""
    role = IamRole(scope, "ExecutionRole", name=name, assume_role_policy=task_trust_policy(cluster))
    managed = IamRolePolicyAttachment(
        scope,
        "ExecutionManagedPolicy",
        role=role.name,
        policy_arn=managed_policy_arn(EXECUTION_MANAGED_POLICY),
    )
    token = IamRolePolicy(
        scope,
        "ExecutionSecrets",
        role=role.id,
        name="inject-agent-token",
        policy=policy_json(*config.token_statements()),
    )
    return role, [managed, token]


def task_role_statements(
    config: ServiceConfig, cluster: ClusterRef, work_queue: WorkQueue | None
) -> list[dict[str, Any]]:
    """The task role's grants: its agent's queues, its work queue, its config, ECS Exec."""
    statements = config.agent_queue_statements()
    if work_queue is not None:
        statements.append(
            statement(QUEUE_CONSUMER_ACTIONS, [work_queue.arn], sid="ConsumeWorkQueue")
        )
    statements += config.read_statements()
    if cluster.exec_access is not None:
        statements += exec_statements(
            cluster.exec_access.key_arn, cluster.exec_access.log_group_arn
        )
    return statements


def task_role(
    scope: Construct, name: str, cluster: ClusterRef, statements: Sequence[dict[str, Any]]
) -> tuple[IamRole, IamRolePolicy]:
    """What the app and its config agent use: exactly `statements`."""
    role = IamRole(scope, "TaskRole", name=name, assume_role_policy=task_trust_policy(cluster))
    return role, IamRolePolicy(
        scope, "TaskPolicy", role=role.id, name="own-resources", policy=policy_json(*statements)
    )


def lifecycle_hooks_role(
    scope: Construct, name: str, function_arns: Sequence[str]
) -> tuple[IamRole, IamRolePolicy]:
    """What ECS assumes to invoke the service's lifecycle hooks: InvokeFunction on those
    functions only (ECS Developer Guide, "Permissions required for Lambda functions in
    Amazon ECS blue/green deployments"; the documented trust has no conditions)."""
    role = IamRole(
        scope,
        "DeploymentHooksRole",
        name=name,
        assume_role_policy=assume_role_policy("ecs.amazonaws.com"),
    )
    return role, IamRolePolicy(
        scope,
        "DeploymentHooksPolicy",
        role=role.id,
        name="invoke-lifecycle-hooks",
        policy=policy_json(
            statement(
                ["lambda:InvokeFunction"], sorted(set(function_arns)), sid="InvokeLifecycleHooks"
            )
        ),
    )
