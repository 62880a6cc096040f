"""botocore clients plus one retry policy: exponential backoff with full jitter.

botocore's own retries are switched off so that every attempt, back-off and give-up is
visible here, sleeps can be cut short by shutdown, and failures are classified once.
Exception texts from AWS are reduced to an error code: they never carry secret values, but
we do not rely on that.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from .logs import log
from .settings import Settings

LOG = logging.getLogger("config_agent.aws")

_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "LimitExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
_MISSING = frozenset(
    {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
)
_REGION_IN_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


class AwsError(Exception):
    """A failed AWS call. The text is `<Operation>: <ErrorCode>`, never a message body."""

    def __init__(self, operation: str, code: str, *, retryable: bool, missing: bool = False):
        super().__init__(f"{operation}: {code}")
        self.operation = operation
        self.code = code
        self.retryable = retryable  # throttling, 5xx, network: AWS is (temporarily) unreachable
        self.missing = missing  # the secret/profile/queue does not exist (yet)


def classify(operation: str, exc: Exception) -> AwsError:
    """Map a botocore exception to an AwsError without keeping its message."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {}) or {}
        code = str(err.get("Code") or "Unknown")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        retryable = code in _THROTTLING or status >= 500 or status == 429
        return AwsError(operation, code, retryable=retryable, missing=code in _MISSING)
    if isinstance(exc, ParamValidationError):
        return AwsError(operation, "ParamValidationError", retryable=False)
    if isinstance(exc, BotoCoreError):  # connection refused/reset, timeouts, credentials fetch
        return AwsError(operation, type(exc).__name__, retryable=True)
    if isinstance(exc, OSError):
        return AwsError(operation, type(exc).__name__, retryable=True)
    return AwsError(operation, type(exc).__name__, retryable=False)


PROBE_MAX_SECONDS = 1.0
"""While AWS (or one of its services) is unreachable, the agent tries again at least this often,
so a recovery is noticed within about a second: new values are served <= 2 s after AWS is
reachable again. Each try is one call per agent, never one per item."""


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (AWS Architecture Blog)."""
    return random.uniform(0, min(cap, base * 2.0 ** min(attempt, 62)))


def probe_delay(attempt: int, base: float = 0.1, cap: float = PROBE_MAX_SECONDS) -> float:
    """Equal jitter: between half and all of min(cap, base * 2**attempt). Never near zero, so
    an outage costs at most ~2 calls a second, and never above `cap`."""
    span = min(cap, base * 2.0 ** min(attempt, 62))
    return span / 2 + random.uniform(0, span / 2)


class Session(Protocol):
    """What the agent uses of a botocore session (botocore ships no types: its clients are the
    one place where Any is written out)."""

    def get_config_variable(self, logical_name: str) -> str | None: ...

    def create_client(self, service_name: str, *, config: object) -> Any: ...


class Aws:
    """Lazily created clients (each costs memory) and `call()` with retries."""

    def __init__(
        self,
        settings: Settings,
        stop: threading.Event,
        session: Session | None = None,
    ) -> None:
        self._settings = settings
        self._stop = stop
        self._session: Session = session or botocore.session.get_session()
        self._region = (
            self._session.get_config_variable("region")
            or os.environ.get("AWS_REGION")
            or _region_from(settings.queue_url)
            or settings.topic_region
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Set after every call: False while AWS is unreachable (feeds /health "degraded").
        self.reachable = True
        self.calls: dict[str, int] = {}  # per-operation attempt counts, for logs and tests

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                read_timeout = self._settings.aws_timeout_seconds
                if service == "sqs":  # long polls hold the connection for WaitTimeSeconds
                    read_timeout += self._settings.wait_time_seconds
                config = Config(
                    region_name=self._region,
                    connect_timeout=self._settings.aws_timeout_seconds,
                    read_timeout=read_timeout,
                    retries={"total_max_attempts": 1},
                    max_pool_connections=4,
                    user_agent_extra="config-agent",
                )
                self._clients[service] = self._session.create_client(service, config=config)
            return self._clients[service]

    def call(
        self,
        service: str,
        operation: str,
        *,
        retries: int | None = None,
        health: bool = True,
        **params: Any,
    ) -> dict[str, Any]:
        """Call `operation` (botocore snake_case name), retrying retryable failures.

        `health=False`: background housekeeping whose failures must not flip `reachable`.
        """
        method: Callable[..., dict[str, Any]] = getattr(self.client(service), operation)
        max_retries = self._settings.max_retries if retries is None else retries
        attempt = 0
        while True:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            try:
                result = method(**params)
            except Exception as exc:  # noqa: BLE001 - classified, never re-raised raw
                err = classify(operation, exc)
                if health:
                    # AWS answered with a non-retryable error: reachable, it just said no.
                    self.reachable = not err.retryable
                if not err.retryable or attempt >= max_retries or self._stop.is_set():
                    raise err from None
                delay = backoff_delay(
                    attempt, self._settings.backoff_base_seconds, self._settings.backoff_max_seconds
                )
                log(
                    LOG,
                    logging.INFO,
                    "aws call failed, backing off",
                    operation=operation,
                    code=err.code,
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                )
                attempt += 1
                if self._stop.wait(delay):
                    raise err from None
                continue
            if health:
                self.reachable = True
            return result


def _region_from(queue_url: str) -> str | None:
    match = _REGION_IN_URL.match(queue_url)
    return match.group(1) if match else None
