"""The worker thread: startup fetch, then SQS long polling and scheduled re-checks.

All AWS work happens on this one thread, so refreshes never race each other and the HTTP
threads only ever read the cache.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from .aws import Aws, AwsError, backoff_delay
from .events import DeploymentStarted, MessageError, parse
from .fanout import OwnQueue
from .logs import log
from .refresher import Refresher, Targets
from .settings import Settings

LOG = logging.getLogger("config_agent.listener")
# AppConfig deployment states after which the content no longer changes for this deployment.
_SETTLED = frozenset({"BAKING", "COMPLETE", "ROLLED_BACK", "REVERTED"})
_MAX_RECHECK_INTERVAL = 60.0


@dataclass
class _Pending:
    """A deployment event whose new content has not reached us yet; its message stays hidden."""

    message_id: str
    receipt: str
    change: DeploymentStarted
    targets: Targets
    deadline: float
    due: float
    interval: float


class Worker:
    def __init__(self, settings: Settings, aws: Aws, refresher: Refresher,
                 stop: threading.Event, own_queue: OwnQueue | None = None) -> None:
        self.settings = settings
        # Fan-out mode: the queue is created (and subscribed) by this thread at startup.
        self.own_queue = own_queue
        self.queue_url: str | None = None if own_queue else settings.queue_url
        self._setup_failures = 0
        self._next_setup = 0.0
        self.aws = aws
        self.refresher = refresher
        self.stop = stop
        self.started = threading.Event()   # startup fetch finished (successfully or not)
        self.busy = threading.Lock()       # held while a batch is processed (for shutdown)
        self.queue_ok = True               # last ReceiveMessage succeeded
        self.polling = False               # inside a ReceiveMessage long poll (no work held)
        self._pending: list[_Pending] = []
        self._receive_failures = 0
        now = time.monotonic()
        self._next_missing = now + settings.missing_retry_seconds
        self._next_safety = (now + self._jitter(settings.safety_refresh_seconds)
                             if settings.safety_refresh_seconds > 0 else math.inf)

    @staticmethod
    def _jitter(seconds: float) -> float:
        # +-10 % so that many tasks of one service do not refresh in lock-step.
        return seconds * random.uniform(0.9, 1.1)

    # --- main loop --------------------------------------------------------------------------
    def run(self) -> None:
        try:
            # Subscribe BEFORE the startup fetch, so no change in between is missed. If that
            # fails, serve anyway (degraded) and keep trying in the loop.
            self._ensure_queue()
            self.refresher.refresh(self.refresher.all_targets(), "startup")
        finally:
            self.started.set()
        log(LOG, logging.INFO, "startup fetch done")
        while not self.stop.is_set():
            try:
                self._run_due()
                if self.stop.is_set():
                    break
                if self.queue_url is None:
                    if self._ensure_queue() and not self.stop.is_set():
                        # Changes made while we were not subscribed were never delivered.
                        self.refresher.refresh(self.refresher.all_targets(), "subscribed-late")
                    continue
                messages = self._receive()
                with self.busy:
                    for index, message in enumerate(messages):
                        if self.stop.is_set():
                            self._release(messages[index:])
                            break
                        self._handle(message)
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log(LOG, logging.ERROR, "worker loop error", error=type(exc).__name__)
                self.stop.wait(1.0)
        with self.busy:
            self._release_pending()

    def _seconds_until_due(self) -> float:
        dues = [self._next_safety]
        if self.refresher.missing_targets():
            dues.append(self._next_missing)
        dues.extend(p.due for p in self._pending)
        return min(dues) - time.monotonic()

    def _run_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_safety:
            self._next_safety = now + self._jitter(self.settings.safety_refresh_seconds)
            self.refresher.refresh(self.refresher.all_targets(), "safety-refresh")
        if now >= self._next_missing:
            self._next_missing = now + self._jitter(self.settings.missing_retry_seconds)
            missing = self.refresher.missing_targets()
            if missing:
                self.refresher.refresh(missing, "missing-retry")
        for pending in [p for p in self._pending if p.due <= now]:
            if self.stop.is_set():
                return
            self._recheck(pending)

    # --- SQS ----------------------------------------------------------------------------------
    def _ensure_queue(self) -> bool:
        """Fan-out mode: create and subscribe the own queue (with backoff between tries)."""
        if self.queue_url is not None or self.own_queue is None:
            return self.queue_url is not None
        wait = self._next_setup - time.monotonic()
        if wait > 0:
            self.stop.wait(max(0.05, min(wait, self._seconds_until_due())))
            return False
        try:
            url = self.own_queue.setup()
        except AwsError as err:
            self.queue_ok = False
            delay = backoff_delay(min(self._setup_failures, 6), 1.0, 60.0) + 0.5
            self._setup_failures += 1
            self._next_setup = time.monotonic() + delay
            log(LOG, logging.ERROR, "creating or subscribing the own queue failed; retrying",
                code=err.code, operation=err.operation, retry_in_s=round(delay, 2))
            return False
        self.queue_url = url
        self.queue_ok = True
        self._setup_failures = 0
        return True

    def _receive(self) -> list[dict[str, Any]]:
        wait = min(float(self.settings.wait_time_seconds), self._seconds_until_due())
        wait_s = max(1, min(20, math.ceil(wait))) if wait > 0 else 0
        self.polling = True
        try:
            resp = self.aws.call(
                "sqs", "receive_message", retries=0, QueueUrl=self.queue_url,
                MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
                VisibilityTimeout=self.settings.visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount"])
        except AwsError as err:
            self.queue_ok = False
            if err.missing and self.own_queue is not None and not self.stop.is_set():
                # Our queue was deleted under us: recreate and resubscribe (then refresh all).
                log(LOG, logging.ERROR, "own queue no longer exists; recreating it",
                    code=err.code)
                self.own_queue.forget()
                self.queue_url = None
                return []
            delay = backoff_delay(min(self._receive_failures, 8), 0.5, 20.0) + 0.1
            self._receive_failures += 1
            log(LOG, logging.WARNING, "receiving from the queue failed", code=err.code,
                consecutive_failures=self._receive_failures, retry_in_s=round(delay, 2))
            self.stop.wait(delay)
            return []
        finally:
            self.polling = False
        if not self.queue_ok:
            log(LOG, logging.INFO, "queue reachable again")
        self.queue_ok = True
        self._receive_failures = 0
        return list(resp.get("Messages") or [])

    def _delete(self, message_id: str, receipt: str) -> None:
        try:
            self.aws.call("sqs", "delete_message", QueueUrl=self.queue_url,
                          ReceiptHandle=receipt)
        except AwsError as err:
            # Not fatal: the event is redelivered and the refresh repeated (idempotent).
            log(LOG, logging.WARNING, "deleting message failed", message_id=message_id,
                code=err.code)

    def _set_visibility(self, receipt: str, seconds: int) -> bool:
        try:
            self.aws.call("sqs", "change_message_visibility", retries=1,
                          QueueUrl=self.queue_url, ReceiptHandle=receipt,
                          VisibilityTimeout=seconds)
            return True
        except AwsError:
            return False

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Shutdown: hand unprocessed messages back at once rather than after the timeout."""
        for message in messages:
            self._set_visibility(str(message.get("ReceiptHandle", "")), 0)

    def _release_pending(self) -> None:
        for pending in self._pending:
            self._set_visibility(pending.receipt, 0)
        self._pending.clear()

    # --- messages -----------------------------------------------------------------------------
    def _handle(self, message: dict[str, Any]) -> None:
        message_id = str(message.get("MessageId", "?"))
        receipt = str(message.get("ReceiptHandle", ""))
        received = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
        try:
            change = parse(str(message.get("Body", "")))
        except MessageError as err:
            # Left in the queue: after maxReceiveCount it lands in the DLQ for a human to see.
            log(LOG, logging.WARNING, "ignoring malformed or unknown message",
                message_id=message_id, reason=str(err), receive_count=received)
            return
        targets = self.refresher.targets_for(change)
        if not targets:
            log(LOG, logging.INFO, "event does not concern this agent's items; acknowledged",
                message_id=message_id, kind=type(change).__name__)
            self._delete(message_id, receipt)
            return
        outcome = self.refresher.refresh(targets, f"event:{message_id}")
        if not outcome.ok:
            log(LOG, logging.WARNING, "refresh failed; message left for redelivery",
                message_id=message_id, failed=outcome.failed, receive_count=received)
            return
        if isinstance(change, DeploymentStarted) and not outcome.changed:
            self._track(message_id, receipt, change, targets)
            return
        self._delete(message_id, receipt)

    def _track(self, message_id: str, receipt: str, change: DeploymentStarted,
               targets: Targets) -> None:
        """Unchanged content after a deployment event: the deployment may be gradual."""
        if self.settings.deployment_max_wait_seconds <= 0:
            self._delete(message_id, receipt)
            return
        interval = self.settings.deployment_recheck_seconds
        now = time.monotonic()
        self._pending = [p for p in self._pending if p.message_id != message_id]
        self._pending.append(_Pending(message_id, receipt, change, targets,
                                      now + self.settings.deployment_max_wait_seconds,
                                      now + interval, interval))
        self._set_visibility(receipt, math.ceil(interval) + self.settings.visibility_timeout)
        log(LOG, logging.INFO, "deployment not visible yet; re-checking",
            message_id=message_id, every_s=interval)

    def _recheck(self, pending: _Pending) -> None:
        change = pending.change
        state = None
        if change.deployment_number is not None:
            state = self.refresher.configs.deployment_state(
                change.application_id, change.environment_id, change.deployment_number)
        outcome = self.refresher.refresh(pending.targets, f"recheck:{pending.message_id}")
        now = time.monotonic()
        done_reason = None
        if outcome.ok and outcome.changed:
            done_reason = "new content"
        elif outcome.ok and state in _SETTLED:
            done_reason = f"deployment {state.lower()}"
        elif now >= pending.deadline:
            done_reason = "max wait reached"
        if done_reason:
            self._pending.remove(pending)
            log(LOG, logging.INFO, "deployment tracking finished", message_id=pending.message_id,
                result=done_reason)
            if outcome.ok:
                self._delete(pending.message_id, pending.receipt)
            return
        pending.interval = min(pending.interval * 2, _MAX_RECHECK_INTERVAL)
        pending.due = min(now + pending.interval, pending.deadline)
        if not self._set_visibility(pending.receipt,
                                    math.ceil(pending.interval) + self.settings.visibility_timeout):
            # The receipt is no longer valid (e.g. redelivered): the new delivery takes over.
            self._pending.remove(pending)
