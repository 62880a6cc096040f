"""The contract between the config pipeline stack and the services stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class ServiceConfigResources:
    """Identifiers (never values) of one service's config resources.

    Produced by the config pipeline stack, consumed by the services stack, which passes them to
    the task as environment variables and scopes the task role to them. Attribute values are
    cdktf tokens: used in another stack they become remote-state references automatically.
    """

    service: str
    queue_url: str
    queue_arn: str
    kms_key_arn: str
    """Key encrypting this env's secrets and queues; the task needs kms:Decrypt on it."""
    application_id: str
    environment_id: str
    profile_id: str | None
    """None when the service declares no config profile."""
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    """Short secret name (e.g. "db-password") -> secret ARN; names are /<env>/<service>/<name>."""
    agent_token_secret_arn: str | None = None
    """Secret holding the config agent's HTTP token, injected by ECS into app and sidecar."""
