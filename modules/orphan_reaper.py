"""The orphan-queue reaper: a Lambda function that removes agent queues of stopped tasks.

Each config agent creates `<env>-<service>_cfg_<task id>` and subscribes it to its service's
topic; its task role may not delete queues or subscriptions (a task could otherwise silence
another's). This construct deploys reaper/handler.py (Python, boto3 only) with exactly the
permissions to remove them: on every "ECS Task State Change" STOPPED event of the cluster, and
in a periodic sweep by name prefix and tag. Its log group is KMS-encrypted, failed invocations
go to a DLQ (with an alarm), and its concurrency is reserved and small.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs import Construct

from config_agent import contract
from engine.aws.cloudwatch_event_rule import CloudwatchEventRule
from engine.aws.cloudwatch_event_target import CloudwatchEventTarget
from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from engine.aws.lambda_function import LambdaFunction
from engine.aws.lambda_permission import LambdaPermission
from engine.aws.sqs_queue import SqsQueue
from engine.core import AssetType, TerraformAsset
from modules.checkov_skips import skip_checks
from modules.iam import assume_role_policy, policy_json, statement
from modules.kms_key import KEY_POLICY_RESOURCE
from modules.lambda_package import source_code_hash, write_zip, zip_bytes
from modules.service_config import sqs_queue_arn
from settings.naming import PARTITION
from settings.rules import between_problem, retention_problem

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("reaper/__init__.py", "reaper/handler.py", "config_agent/contract.py")
"""What the function runs: the handler and the contract it shares with agents and stacks."""
PACKAGE_INIT = b'"""Only the contract: the reaper shares its names, not the agent."""\n'
RUNTIME = "python3.12"
HANDLER = "reaper.handler.handler"
TIMEOUT_SECONDS = 300
"""A sweep lists every agent queue of the env; five minutes is ample for thousands."""
RESERVED_CONCURRENCY = 2
"""A STOPPED event and a sweep may overlap (removals are idempotent); more is never needed,
and a bound keeps a burst of STOPPED events from taking the account's concurrency."""
QUEUE_READ_ACTIONS = (
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
    "sqs:GetQueueAttributes",
    "sqs:DeleteQueue",
)
DLQ_RETENTION_SECONDS = 1209600


def package() -> bytes:
    """The deployment zip: reaper/ plus config_agent/contract.py under a bare package."""
    files = {name: (ROOT / name).read_bytes() for name in PACKAGE_FILES}
    files["config_agent/__init__.py"] = PACKAGE_INIT
    return zip_bytes(files)


def log_group_name(function_name: str) -> str:
    """Lambda writes to `/aws/lambda/<function name>`; created here to encrypt and expire it."""
    return f"/aws/lambda/{function_name}"


def logs_key_statement(region: str, account_id: str, function_name: str) -> dict[str, Any]:
    """For the key policy: CloudWatch Logs may encrypt the reaper's log group, only that one."""
    group = f"arn:{PARTITION}:logs:{region}:{account_id}:log-group:{log_group_name(function_name)}"
    return statement(
        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        [KEY_POLICY_RESOURCE],
        sid="CloudWatchLogsReaperLog",
        principal={"Service": f"logs.{region}.amazonaws.com"},
        condition={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group}},
    )


def rate_expression(minutes: int) -> str:
    """EventBridge wants the singular for 1: `rate(1 minute)`, `rate(10 minutes)`."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


@dataclass(frozen=True)
class OrphanReaperProps:
    """Where it runs, what it may clean up, how often, and the key for its log and DLQ."""

    function_name: str
    account_id: str
    region: str
    cluster_name: str
    """Only this cluster's tasks' queues are ever removed."""
    queue_prefixes: Sequence[str]
    """One agent-queue prefix per service (`<env>-<service>_cfg_`)."""
    topic_arns: Sequence[str]
    """The services' config-event topics (dangling subscriptions are removed from these)."""
    kms_key_arn: str
    sweep_minutes: int = 10
    grace_seconds: int = 600
    log_retention_days: int = 365


class OrphanReaper(Construct):
    """Function + role + log group + DLQ + the STOPPED-event and sweep rules; `.function_arn`,
    `.dlq_name`."""

    def __init__(self, scope: Construct, id_: str, props: OrphanReaperProps) -> None:
        super().__init__(scope, id_)
        for what, problem in (
            ("sweep minutes", between_problem(props.sweep_minutes, 1, 1440)),
            ("grace seconds", between_problem(props.grace_seconds, 60, 86400)),
            ("log retention", retention_problem(props.log_retention_days)),
        ):
            if problem:
                raise ValueError(f"orphan reaper {what}: {problem}")
        if not props.queue_prefixes or len(props.queue_prefixes) != len(props.topic_arns):
            raise ValueError("one queue prefix per topic, at least one")
        self._props = props
        self.cluster_arn = (
            f"arn:{PARTITION}:ecs:{props.region}:{props.account_id}:cluster/{props.cluster_name}"
        )
        self.log_group = CloudwatchLogGroup(
            self,
            "LogGroup",
            name=log_group_name(props.function_name),
            kms_key_id=props.kms_key_arn,
            retention_in_days=props.log_retention_days,
        )
        self.dlq = SqsQueue(
            self,
            "DeadLetterQueue",
            name=f"{props.function_name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            kms_master_key_id=props.kms_key_arn,
        )
        self.role = IamRole(
            self,
            "Role",
            name=props.function_name,
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
        )
        self.policy = IamRolePolicy(
            self,
            "Policy",
            role=self.role.id,
            name="reap-agent-queues",
            policy=policy_json(*self.statements()),
        )
        self.function = self._function()
        self.function_arn = self.function.arn
        self.dlq_name = self.dlq.name
        self._rules()

    def statements(self) -> list[dict[str, Any]]:
        """Least privilege: the agent queues of these services, these topics, this cluster."""
        p = self._props
        queues = [
            sqs_queue_arn(p.region, p.account_id, f"{prefix}*") for prefix in p.queue_prefixes
        ]
        return [
            # ListQueues supports no resource-level permission (Service Authorization Ref.);
            # the function lists only with QueueNamePrefix = each agent prefix.
            statement(["sqs:ListQueues"], ["*"], sid="ListQueues"),
            statement(QUEUE_READ_ACTIONS, queues, sid="ReapAgentQueues"),
            statement(
                ["sns:ListSubscriptionsByTopic"], list(p.topic_arns), sid="ListServiceTopics"
            ),
            # sns:Unsubscribe has no resource type and no condition key, so "*" is the only
            # Resource that matches. It lives here, in one function whose code unsubscribes
            # only SQS endpoints named with the agent prefixes, never in a task role.
            statement(["sns:Unsubscribe"], ["*"], sid="UnsubscribeAgentQueues"),
            statement(
                ["ecs:DescribeTasks"],
                [(f"arn:{PARTITION}:ecs:{p.region}:{p.account_id}:task/{p.cluster_name}/*")],
                sid="DescribeClusterTasks",
            ),
            statement(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [f"{self.log_group.arn}:*"],
                sid="WriteOwnLog",
            ),
            statement(["sqs:SendMessage"], [self.dlq.arn], sid="DeadLetterFailedInvocations"),
            # The DLQ is SSE-KMS: sending encrypts with the env key, through SQS only.
            statement(
                ["kms:GenerateDataKey", "kms:Decrypt"],
                [p.kms_key_arn],
                sid="EncryptDeadLetters",
                condition={"StringEquals": {"kms:ViaService": f"sqs.{p.region}.amazonaws.com"}},
            ),
        ]

    def _function(self) -> LambdaFunction:
        p = self._props
        code = package()
        asset = TerraformAsset(
            self, "Code", path=str(write_zip(code, "orphan-reaper")), type=AssetType.FILE
        )
        function = LambdaFunction(
            self,
            "Function",
            function_name=p.function_name,
            role=self.role.arn,
            runtime=RUNTIME,
            handler=HANDLER,
            architectures=["arm64"],
            filename=asset.path,
            source_code_hash=source_code_hash(code),
            timeout=TIMEOUT_SECONDS,
            memory_size=128,
            reserved_concurrent_executions=RESERVED_CONCURRENCY,
            dead_letter_config={"target_arn": self.dlq.arn},
            environment={
                "variables": {
                    contract.REAPER_CLUSTER_ARN: self.cluster_arn,
                    contract.REAPER_QUEUE_PREFIXES: ",".join(p.queue_prefixes),
                    contract.REAPER_TOPIC_ARNS: ",".join(p.topic_arns),
                    contract.REAPER_GRACE_SECONDS: str(p.grace_seconds),
                }
            },
            depends_on=[self.log_group, self.policy],
        )
        skip_checks(
            function,
            {
                "CKV_AWS_117": "the function calls only AWS APIs (SQS, SNS, ECS); outside a VPC it "
                "needs no NAT or interface endpoints and reaches nothing private",
                "CKV_AWS_272": "the code is built from this repository at synth and pinned by "
                "source_code_hash; there is no signing profile to verify it against",
                "CKV_AWS_173": "the variables are a cluster ARN, queue prefixes, topic ARNs and a "
                "number: no secrets; Lambda encrypts them at rest with its own key",
                "CKV_AWS_50": "a housekeeping function of a few AWS calls; its one JSON log line "
                "per run records what it did, X-Ray would add IAM and cost only",
            },
        )
        return function

    def _rules(self) -> None:
        """A STOPPED task of this cluster reaps at once; the schedule sweeps for the rest."""
        p = self._props
        stopped = CloudwatchEventRule(
            self,
            "TaskStopped",
            name=f"{p.function_name}-task-stopped",
            description="ECS tasks of this cluster stopped: remove their config-agent queues",
            event_pattern=json.dumps(
                {
                    "source": ["aws.ecs"],
                    "detail-type": ["ECS Task State Change"],
                    "detail": {"clusterArn": [self.cluster_arn], "lastStatus": ["STOPPED"]},
                },
                sort_keys=True,
            ),
        )
        sweep = CloudwatchEventRule(
            self,
            "Sweep",
            name=f"{p.function_name}-sweep",
            description="Find config-agent queues of stopped tasks that an event missed",
            schedule_expression=rate_expression(p.sweep_minutes),
        )
        for id_, rule in (("TaskStopped", stopped), ("Sweep", sweep)):
            CloudwatchEventTarget(
                self,
                f"{id_}Target",
                rule=rule.name,
                target_id="orphan-reaper",
                arn=self.function.arn,
            )
            LambdaPermission(
                self,
                f"{id_}Invoke",
                statement_id=f"events-{id_.lower()}",
                action="lambda:InvokeFunction",
                function_name=self.function.function_name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
            )
        self.rules = (stopped, sweep)
