"""The contract between the config pipeline stack and the services stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class ServiceConfigResources:
    """Identifiers (never values) of one service's config resources.

    Produced by the config pipeline stack, consumed by the services stack, which passes them to
    the task as environment variables and scopes the task role to them. Resource attributes
    are cdktf tokens: used in another stack they become remote-state references automatically;
    `queue_name_prefix` and `max_receive_count` are plain values.
    """

    service: str
    topic_arn: str
    """SNS topic the service's event rules publish to; each agent subscribes its own queue."""
    dlq_arn: str
    """DLQ that every agent queue of the service redrives to."""
    queue_name_prefix: str
    """`<env>-<service>-cfg-`: an agent names its queue `<prefix><ecs task id>` (<= 80 chars)."""
    max_receive_count: int
    """Receives after which an agent queue moves a message to the DLQ."""
    kms_key_arn: str
    """Key encrypting this env's secrets, topics and queues; agents create SSE-KMS queues with it
    and need kms:Decrypt/GenerateDataKey on it."""
    application_id: str
    environment_id: str
    profile_id: str | None
    """None when the service declares no config profile."""
    agent_token_secret_arn: str
    """Secret holding the config agent's HTTP token, injected by ECS into app and sidecar."""
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    """Short secret name (e.g. "db-password") -> secret ARN; names are /<env>/<service>/<name>."""
