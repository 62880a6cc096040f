"""One service's config resources, as the config stack hands them to the services stack.

`ServiceConfig` is the one place that says what the service's tasks get from them: the config
agent's environment (`agent_environment`, named by `config_agent.contract`), the app's
(`app_environment`), and the IAM statements both need (`agent_queue_statements`,
`read_statements`, `token_statements`). Values are identifiers, never secret or config values;
resource attributes are cdktf tokens, which become remote-state references in another stack.
Pure Python: no cdktf import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config_agent import contract
from modules.iam import statement
from settings.naming import PARTITION

AGENT_QUEUE_ACTIONS = (
    "sqs:CreateQueue",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
)
"""The config agent creates and consumes its own queue (fan-out mode). No sqs:DeleteQueue and
no sns:Unsubscribe: the config stack's reaper removes queues of stopped tasks, so no task can
delete another task's queue or subscription."""


@dataclass(frozen=True)
class AgentQueues:
    """How each config agent of a service fans out: it creates `<queue_name_prefix><task id>`
    (SSE-KMS, redriving to `dlq_arn`) and subscribes it to `topic_arn`."""

    topic_arn: str
    """The SNS topic the service's event rules publish to."""
    dlq_arn: str
    """The DLQ every agent queue of the service redrives to."""
    queue_name_prefix: str
    """`<env>-<service>_cfg_` (contract.agent_queue_prefix); the task role is scoped to
    `<prefix>*`, which no other service's names match (service names have no `_`)."""
    max_receive_count: int
    """Receives after which an agent queue moves a message to the DLQ."""


@dataclass(frozen=True)
class ProfileRef:
    """A hosted AppConfig profile deployed to the env's AppConfig environment."""

    application_id: str
    environment_id: str
    profile_id: str


def secret_variable(short_name: str) -> str:
    """`SECRET_ARN_<NAME>`: the app variable holding one secret's ARN."""
    return "SECRET_ARN_" + re.sub(r"[^A-Z0-9]", "_", short_name.upper())


def sqs_queue_arn(region: str, account_id: str, name: str) -> str:
    """An SQS queue ARN (or ARN pattern) from its name."""
    return f"arn:{PARTITION}:sqs:{region}:{account_id}:{name}"


@dataclass(frozen=True)
class ServiceConfig:
    """Identifiers of one service's topic, DLQ, secrets, profile and the env key, and what its
    tasks are told and allowed from them."""

    service: str
    account_id: str
    region: str
    key_arn: str
    """Key encrypting the env's secrets, topics and queues: agents create SSE-KMS queues with
    it and decrypt secrets, hosted configuration and messages with it."""
    queues: AgentQueues
    token_secret_arn: str
    """The config agent's HTTP token (`/<env>/<service>/config-agent-token`), which ECS
    injects into the app and the sidecar."""
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    """Short secret name (e.g. "db-password") -> ARN of `/<env>/<service>/<name>`; default none."""
    profile: ProfileRef | None = None
    """None: the service declares no config profile (no AppConfig variables or grants)."""
    safety_refresh_seconds: int = 900
    """The agent refetches everything this often even without events: the last line of
    defence if a change never reaches its queue (`pipeline.agent_safety_refresh_seconds`)."""

    def agent_environment(self) -> dict[str, str]:
        """The sidecar's config variables (`config_agent.contract` names them): fan-out mode,
        the secrets it serves and, with a profile, the AppConfig ids."""
        q = self.queues
        env = {
            contract.TOPIC_ARN: q.topic_arn,
            contract.QUEUE_PREFIX: q.queue_name_prefix,
            contract.DLQ_ARN: q.dlq_arn,
            contract.MAX_RECEIVE_COUNT: str(q.max_receive_count),
            contract.QUEUE_KMS_KEY: self.key_arn,
            contract.SECRET_IDS: ",".join(self.secret_arns[k] for k in sorted(self.secret_arns)),
            contract.SAFETY_REFRESH_SECONDS: str(self.safety_refresh_seconds),
        }
        if self.profile is not None:
            env.update(
                {
                    contract.APPCONFIG_APPLICATION: self.profile.application_id,
                    contract.APPCONFIG_ENVIRONMENT: self.profile.environment_id,
                    contract.APPCONFIG_PROFILE: self.profile.profile_id,
                }
            )
        return env

    def app_environment(self) -> dict[str, str]:
        """The app's config variables: the AppConfig ids and one `SECRET_ARN_<NAME>` per
        secret, for apps that name what they ask the agent for."""
        env = {secret_variable(name): arn for name, arn in self.secret_arns.items()}
        if self.profile is not None:
            env.update(
                {
                    "APPCONFIG_APPLICATION_ID": self.profile.application_id,
                    "APPCONFIG_ENVIRONMENT_ID": self.profile.environment_id,
                    "APPCONFIG_PROFILE_ID": self.profile.profile_id,
                }
            )
        return env

    @property
    def _own_queues(self) -> str:
        return sqs_queue_arn(self.region, self.account_id, f"{self.queues.queue_name_prefix}*")

    def agent_queue_statements(self) -> list[dict[str, Any]]:
        """Task role: create and consume the agent's own queue, subscribe it, and check that
        the subscription still exists. Removing queues of stopped tasks is the reaper's job."""
        own_queues, topic = self._own_queues, self.queues.topic_arn
        return [
            statement(AGENT_QUEUE_ACTIONS, [own_queues], sid="OwnAgentQueues"),
            # Only SQS subscriptions, and only of this service's agent queues.
            statement(
                ["sns:Subscribe"],
                [topic],
                sid="SubscribeAgentQueues",
                condition={
                    "StringEquals": {"sns:Protocol": "sqs"},
                    "StringLike": {"sns:Endpoint": own_queues},
                },
            ),
            # The agent checks periodically that its subscription still exists.
            statement(["sns:ListSubscriptionsByTopic"], [topic], sid="ListOwnTopic"),
        ]

    def read_statements(self) -> list[dict[str, Any]]:
        """Task role: read the service's own secrets and profile, and decrypt what they and the
        agent's queue hold with the env key, each only through its service and for its own
        resources (encryption context)."""
        statements = []
        if self.secret_arns:
            statements.append(
                statement(
                    ["secretsmanager:GetSecretValue"],
                    list(self.secret_arns.values()),
                    sid="ReadOwnSecrets",
                )
            )
        if self.profile is not None:
            statements += self._profile_statements(self.profile)
        return statements + self.key_statements()

    def _via(self, service: str) -> dict[str, str]:
        return {"kms:ViaService": f"{service}.{self.region}.amazonaws.com"}

    def key_statements(self) -> list[dict[str, Any]]:
        """kms:Decrypt on the env key, per use. The agent only receives from its queue and
        never sends, so it needs no kms:GenerateDataKey (creating an SSE-KMS queue makes no
        KMS call). Encryption contexts: Secrets Manager `SecretARN`
        (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html),
        SQS `aws:sqs:arn` (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
        SQSDeveloperGuide/sqs-key-management.html)."""
        statements = [
            statement(
                ["kms:Decrypt"],
                [self.key_arn],
                sid="DecryptOwnQueue",
                condition={
                    "StringEquals": self._via("sqs"),
                    "StringLike": {"kms:EncryptionContext:aws:sqs:arn": self._own_queues},
                },
            )
        ]
        if self.secret_arns:
            statements.append(
                statement(
                    ["kms:Decrypt"],
                    [self.key_arn],
                    sid="DecryptOwnSecrets",
                    condition={
                        "StringEquals": {
                            **self._via("secretsmanager"),
                            "kms:EncryptionContext:SecretARN": sorted(self.secret_arns.values()),
                        }
                    },
                )
            )
        if self.profile is not None:
            # AppConfig documents no encryption context for hosted configurations: only the
            # service is pinned; the profile statements above scope what can be read.
            statements.append(
                statement(
                    ["kms:Decrypt"],
                    [self.key_arn],
                    sid="DecryptHostedConfig",
                    condition={"StringEquals": self._via("appconfig")},
                )
            )
        return statements

    def _profile_statements(self, profile: ProfileRef) -> list[dict[str, Any]]:
        application = (
            f"arn:{PARTITION}:appconfig:{self.region}:{self.account_id}:application/"
            f"{profile.application_id}/environment/{profile.environment_id}"
        )
        return [
            # The ARN AppConfig authorizes StartConfigurationSession/GetLatestConfiguration on.
            statement(
                ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
                [f"{application}/configuration/{profile.profile_id}"],
                sid="ReadOwnConfigProfile",
            ),
            # After a change event the agent fetches at once, then re-checks the deployment
            # (GetDeployment) until new content appears or it is BAKING/COMPLETE/ROLLED_BACK/
            # REVERTED: a gradual deployment reaches this task's slice only over time.
            statement(
                ["appconfig:GetDeployment"],
                [f"{application}/deployment/*"],
                sid="ReadOwnDeployments",
            ),
        ]

    def token_statements(self) -> list[dict[str, Any]]:
        """Execution role: read the agent token secret (ECS injects it), decrypting with the env
        key only through Secrets Manager."""
        return [
            statement(["secretsmanager:GetSecretValue"], [self.token_secret_arn], sid="AgentToken"),
            statement(
                ["kms:Decrypt"],
                [self.key_arn],
                sid="DecryptViaSecretsManager",
                condition={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": self.token_secret_arn,
                    }
                },
            ),
        ]
