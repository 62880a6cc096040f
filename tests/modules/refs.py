"""Typed refs the module tests build constructs and containers from (plain strings where the
stacks pass tokens)."""

from __future__ import annotations

from modules.service_config import AgentQueues, ProfileRef, ServiceConfig

SERVICE_CONFIG = ServiceConfig(
    service="web",
    account_id="111111111111",
    region="us-west-2",
    key_arn="arn:key",
    queues=AgentQueues(
        topic_arn="arn:topic",
        dlq_arn="arn:dlq",
        queue_name_prefix="dev-web-cfg-",
        max_receive_count=3,
    ),
    token_secret_arn="arn:token",
    secret_arns={"db-password": "arn:db", "api-key": "arn:api"},
    profile=ProfileRef(application_id="app1", environment_id="env1", profile_id="prof1"),
)
"""web's config: two secrets and a profile."""
