"""The worker's settings, parsed once from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from samples.common.settings import AgentSettings, SettingsError, log_level, number, text
from samples.contract import WORKER_HEARTBEAT_FILE

_QUEUE_URL = re.compile(r"^https?://[^\s/]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
CONNECT_TIMEOUT_SECONDS = 5
READ_SLACK_SECONDS = 5
"""Read timeout of an SQS call = `WaitTimeSeconds` + this."""
CALL_SLACK_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_SLACK_SECONDS
"""The longest a receive call may take beyond `WaitTimeSeconds` before it fails."""


@dataclass(frozen=True)
class HeartbeatSettings:
    """All `--check-health` needs: it runs in the same container, with the same variables."""

    path: Path
    max_age_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HeartbeatSettings:
        path = Path(text(env, "WORKER_HEARTBEAT_FILE", WORKER_HEARTBEAT_FILE))
        if not path.is_absolute():
            raise SettingsError(f"WORKER_HEARTBEAT_FILE must be an absolute path, got {path}")
        return cls(path, number(env, "WORKER_HEARTBEAT_MAX_AGE_SECONDS", 60, 1, 3600))


@dataclass(frozen=True)
class WorkerSettings:
    queue_url: str
    region: str
    agent: AgentSettings
    heartbeat: HeartbeatSettings
    wait_time_seconds: int = 20
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 20.0
    shutdown_grace_seconds: float = 25.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        queue_url = text(env, "WORK_QUEUE_URL")
        if not _QUEUE_URL.match(queue_url):
            raise SettingsError(
                "WORK_QUEUE_URL must be an SQS queue URL "
                f"(https://sqs.<region>.amazonaws.com/<account>/<name>), got "
                f"{queue_url!r}"
            )
        settings = cls(
            queue_url=queue_url,
            region=text(env, "AWS_REGION", env.get("AWS_DEFAULT_REGION", "").strip() or None),
            agent=AgentSettings.from_env(env),
            heartbeat=HeartbeatSettings.from_env(env),
            # SQS allows 0-20 s; 0 would be a short poll (busy loop on an empty queue).
            wait_time_seconds=int(number(env, "WORKER_WAIT_TIME_SECONDS", 20, 1, 20, True)),
            backoff_base_seconds=number(env, "WORKER_BACKOFF_BASE_SECONDS", 1.0, 0.01, 60),
            backoff_max_seconds=number(env, "WORKER_BACKOFF_MAX_SECONDS", 20.0, 0.01, 300),
            shutdown_grace_seconds=number(env, "WORKER_SHUTDOWN_GRACE_SECONDS", 25.0, 1, 120),
            log_level=log_level(env),
        )
        slowest_beat = max(
            settings.wait_time_seconds + CALL_SLACK_SECONDS, settings.backoff_max_seconds
        )
        if settings.heartbeat.max_age_seconds <= slowest_beat:
            # A healthy idle worker beats once per poll or backoff: a smaller limit would flap.
            raise SettingsError(
                f"WORKER_HEARTBEAT_MAX_AGE_SECONDS must exceed {slowest_beat:g} "
                "(long poll + call slack, and the maximum backoff)"
            )
        return settings
