"""The worker thread: startup fetch, then SQS long polling and scheduled re-checks.

All AWS work happens on this one thread, so refreshes never race each other and the HTTP
threads only ever read the cache. Per receive batch every affected item is fetched once, however
many events name it. A refresh that fails because AWS is unreachable keeps its message hidden
and is retried here within about a second (aws.PROBE_MAX_SECONDS) instead of waiting for SQS to
redeliver it; a message is deleted only once its items were fetched.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from .aws import Aws, AwsError, backoff_delay, probe_delay
from .events import Change, DeploymentStarted, MessageError, parse
from .fanout import OwnQueue
from .heartbeat import Heartbeat
from .inbox import Inbox
from .logs import log
from .refresher import Outcome, Refresher, Targets
from .settings import Settings

LOG = logging.getLogger("config_agent.listener")
# AppConfig deployment states after which the content no longer changes for this deployment.
_SETTLED = frozenset({"BAKING", "COMPLETE", "ROLLED_BACK", "REVERTED"})
_MAX_RECHECK_INTERVAL = 60.0
MAX_HELD = 1000  # messages kept hidden while AWS is unreachable; more are left to SQS


@dataclass(frozen=True)
class _Job:
    """One received message: the change it announces and the items that change touches."""

    message_id: str
    change: Change
    targets: Targets
    receive_count: Any


@dataclass
class _Held:
    """A job whose items could not be fetched (AWS unreachable): retried, message kept hidden."""

    job: _Job
    hidden_until: float


@dataclass
class _Pending:
    """A deployment event whose new content has not reached us yet; its message stays hidden."""

    job: _Job
    deadline: float
    due: float
    interval: float


class Worker:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        refresher: Refresher,
        stop: threading.Event,
        own_queue: OwnQueue | None = None,
    ) -> None:
        self.settings = settings
        # Fan-out mode: the queue is created (and subscribed) by this thread at startup.
        self.own_queue = own_queue
        self.inbox = Inbox(aws)
        self.inbox.queue_url = None if own_queue else settings.queue_url
        self._setup_failures = 0
        self._next_setup = 0.0
        self.aws = aws
        self.refresher = refresher
        self.stop = stop
        self.started = threading.Event()  # startup fetch finished (successfully or not)
        self.busy = threading.Lock()  # held while a batch is processed (for shutdown)
        self.queue_ok = True  # last ReceiveMessage succeeded
        self.polling = False  # inside a ReceiveMessage long poll (no work held)
        self._pending: dict[str, _Pending] = {}
        self._held: dict[str, _Held] = {}
        self._retry_keys: set[str] = set()  # items whose last fetch found AWS unreachable
        self._retry_attempt = 0
        self._next_retry = math.inf
        self._receive_failures = 0
        now = time.monotonic()
        self._next_missing = now + settings.missing_retry_seconds
        self._next_safety = (
            now + self._jitter(settings.safety_refresh_seconds)
            if settings.safety_refresh_seconds > 0
            else math.inf
        )
        self._next_subscription_check = math.inf  # set once subscribed (fan-out mode)
        self._next_catchup = math.inf  # one refresh of all after (re)subscribing
        self._working: list[str] = []  # message ids of the batch being refreshed

    @property
    def queue_url(self) -> str | None:
        return self.inbox.queue_url

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
            self._refresh(self.refresher.all_targets(), "startup")
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
                        self._refresh(self.refresher.all_targets(), "subscribed-late")
                    continue
                messages = self._receive()
                with self.busy:
                    self._process(messages)
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log(LOG, logging.ERROR, "worker loop error", error=type(exc).__name__)
                self.stop.wait(1.0)
        with self.busy:
            self.inbox.hand_back()  # held, tracked and unprocessed messages: visible again

    def _seconds_until_due(self) -> float:
        dues = [
            self._next_safety,
            self._next_retry,
            self._next_subscription_check,
            self._next_catchup,
        ]
        if self.refresher.missing_targets():
            dues.append(self._next_missing)
        dues.extend(p.due for p in self._pending.values())
        dues.extend(h.hidden_until - self._extend_margin() for h in self._held.values())
        return min(dues) - time.monotonic()

    def _run_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_safety:
            self._next_safety = now + self._jitter(self.settings.safety_refresh_seconds)
            self._refresh(self.refresher.all_targets(), "safety-refresh")
        if now >= self._next_catchup:
            self._next_catchup = math.inf
            self._refresh(self.refresher.all_targets(), "catch-up")
        if now >= self._next_subscription_check:
            self._check_subscription()
        if now >= self._next_missing:
            self._next_missing = now + self._jitter(self.settings.missing_retry_seconds)
            missing = self.refresher.missing_targets()
            if missing:
                self._refresh(missing, "missing-retry")
        if now >= self._next_retry and self._retry_keys:
            self._refresh(self.refresher.targets_of(self._retry_keys), "retry")
        self._keep_held_hidden()
        for pending in [p for p in self._pending.values() if p.due <= now]:
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
            # Unreachable: probe again soon. Refused (permissions): back off up to a minute.
            delay = (
                probe_delay(self._setup_failures)
                if err.retryable
                else backoff_delay(min(self._setup_failures, 6), 1.0, 60.0) + 0.5
            )
            self._setup_failures += 1
            self._next_setup = time.monotonic() + delay
            log(
                LOG,
                logging.ERROR,
                "creating or subscribing the own queue failed; retrying",
                code=err.code,
                operation=err.operation,
                retry_in_s=round(delay, 2),
            )
            return False
        self.inbox.queue_url = url
        self.queue_ok = True
        self._setup_failures = 0
        now = time.monotonic()
        self._next_subscription_check = now + self._jitter(self.settings.subscription_check_seconds)
        if self.settings.catchup_refresh_seconds > 0:
            self._next_catchup = (
                self.own_queue.subscribed_at + self.settings.catchup_refresh_seconds
            )
        return True

    def _check_subscription(self) -> None:
        """Fan-out mode: resubscribe (then refresh everything) if our subscription is gone.

        Without this an agent whose subscription was removed (by hand, or by a clean-up whose
        DeleteQueue failed after its Unsubscribe) keeps a healthy queue that never receives
        anything: it would serve old values forever while reporting ok.
        """
        assert self.own_queue is not None
        self._next_subscription_check = time.monotonic() + self._jitter(
            self.settings.subscription_check_seconds
        )
        try:
            if self.own_queue.subscribed():
                return
        except AwsError as err:
            log(LOG, logging.WARNING, "checking the own subscription failed", code=err.code)
            return
        log(
            LOG,
            logging.ERROR,
            "own subscription no longer exists; resubscribing",
            queue=self.own_queue.name,
        )
        self.own_queue.forget(queue=False)
        self.inbox.queue_url = None  # the loop resubscribes, then refreshes everything
        self.queue_ok = False
        self._next_subscription_check = math.inf

    def _receive(self) -> list[dict[str, Any]]:
        wait = min(float(self.settings.wait_time_seconds), self._seconds_until_due())
        wait_s = max(1, min(20, math.ceil(wait))) if wait > 0 else 0
        self.polling = True
        try:
            resp = self.aws.call(
                "sqs",
                "receive_message",
                retries=0,
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_s,
                VisibilityTimeout=self.settings.visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except AwsError as err:
            self.queue_ok = False
            if err.missing and self.own_queue is not None and not self.stop.is_set():
                # Our queue was deleted under us: recreate and resubscribe (then refresh all).
                log(LOG, logging.ERROR, "own queue no longer exists; recreating it", code=err.code)
                self.own_queue.forget()
                self.inbox.queue_url = None
                return []
            # Probe about once a second: the queue is how changes reach us, so noticing its
            # recovery late delays every change made meanwhile.
            delay = probe_delay(self._receive_failures)
            self._receive_failures += 1
            if self._receive_failures & (self._receive_failures - 1) == 0:  # 1, 2, 4, 8...
                log(
                    LOG,
                    logging.WARNING,
                    "receiving from the queue failed",
                    code=err.code,
                    consecutive_failures=self._receive_failures,
                    retry_in_s=round(delay, 2),
                )
            self.stop.wait(delay)
            return []
        finally:
            self.polling = False
        if not self.queue_ok:
            log(LOG, logging.INFO, "queue reachable again", failures=self._receive_failures)
            self._next_retry = min(self._next_retry, time.monotonic())  # AWS is back: retry now
        self.queue_ok = True
        self._receive_failures = 0
        return list(resp.get("Messages") or [])

    # --- messages -----------------------------------------------------------------------------
    def _process(self, messages: list[dict[str, Any]]) -> None:
        """One receive batch: every affected item is fetched once, then each message settled."""
        jobs = [job for job in map(self._job, self.inbox.add(messages)) if job is not None]
        if not jobs or self.stop.is_set():
            return  # after stop: still registered, so handed back at once
        reason = f"event:{jobs[0].message_id}" if len(jobs) == 1 else f"events:{len(jobs)}"
        self._working = [j.message_id for j in jobs]
        try:
            outcome = self._refresh(Targets.union(j.targets for j in jobs), reason)
        finally:
            self._working = []
        self._settle(jobs, outcome)

    def _job(self, message: dict[str, Any]) -> _Job | None:
        message_id = str(message.get("MessageId", "?"))
        received = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
        try:
            change = parse(str(message.get("Body", "")))
        except MessageError as err:
            # Left in the queue: after maxReceiveCount it lands in the DLQ for a human to see.
            log(
                LOG,
                logging.WARNING,
                "ignoring malformed or unknown message",
                message_id=message_id,
                reason=str(err),
                receive_count=received,
            )
            self.inbox.drop(message_id)
            return None
        targets = self.refresher.targets_for(change)
        if not targets:
            log(
                LOG,
                logging.INFO,
                "event does not concern this agent's items; acknowledged",
                message_id=message_id,
                kind=type(change).__name__,
            )
            self.inbox.delete([message_id])
            return None
        return _Job(message_id, change, targets, received)

    def _settle(self, jobs: list[_Job], outcome: Outcome) -> None:
        """Delete, hold (AWS unreachable), leave for redelivery, or track each job's message."""
        failed, unreachable = set(outcome.failed), set(outcome.unreachable)
        done: list[str] = []
        for job in jobs:
            keys = set(job.targets.keys())
            if keys & failed:
                if keys & failed <= unreachable and len(self._held) < MAX_HELD:
                    self._held[job.message_id] = _Held(
                        job, time.monotonic() + self.settings.visibility_timeout
                    )
                    log(
                        LOG,
                        logging.INFO,
                        "AWS unreachable; message kept hidden, retrying",
                        message_id=job.message_id,
                        failed=sorted(keys & failed),
                    )
                    continue
                log(
                    LOG,
                    logging.WARNING,
                    "refresh failed; message left for redelivery",
                    message_id=job.message_id,
                    failed=sorted(keys & failed),
                    receive_count=job.receive_count,
                )
                self.inbox.drop(job.message_id)
            elif isinstance(job.change, DeploymentStarted) and not keys & set(outcome.changed):
                self._track(job)
            else:
                done.append(job.message_id)
        self.inbox.delete(done)

    # --- items AWS could not be reached for -------------------------------------------------------
    def _extend_in_flight(self) -> None:
        """Heartbeat (own thread): messages being refreshed or held stay hidden."""
        ids = [*self._working, *list(self._held)]
        if ids:
            self.inbox.extend(ids, self.settings.visibility_timeout)

    def _refresh(self, targets: Targets, reason: str) -> Outcome:
        with Heartbeat(self._extend_in_flight, self.settings.visibility_timeout):
            outcome = self.refresher.refresh(targets, reason)
        fetched = set(targets.keys()) - set(outcome.failed)
        refused = set(outcome.failed) - set(outcome.unreachable)
        self._retry_keys = (self._retry_keys - fetched - refused) | set(outcome.unreachable)
        if outcome.unreachable:
            self._next_retry = time.monotonic() + probe_delay(self._retry_attempt)
            self._retry_attempt += 1
        elif not self._retry_keys:
            self._retry_attempt, self._next_retry = 0, math.inf
        ready = [
            h.job for h in self._held.values() if not set(h.job.targets.keys()) & self._retry_keys
        ]
        for job in ready:
            del self._held[job.message_id]
        if ready:
            # Fetched by now, or refused for good (then left for redelivery, as any refusal).
            self._settle(ready, Outcome(changed=outcome.changed, failed=sorted(refused)))
        return outcome

    def _extend_margin(self) -> float:
        return min(5.0, self.settings.visibility_timeout / 2)

    def _keep_held_hidden(self) -> None:
        now = time.monotonic()
        due = [m for m, h in self._held.items() if h.hidden_until - self._extend_margin() <= now]
        if not due:
            return
        lost = self.inbox.extend(due, self.settings.visibility_timeout)
        for message_id in due:
            if message_id in lost:  # no longer ours (e.g. redelivered): SQS takes over
                del self._held[message_id]
            else:
                self._held[message_id].hidden_until = now + self.settings.visibility_timeout

    # --- gradual deployments --------------------------------------------------------------------
    def _track(self, job: _Job) -> None:
        """Unchanged content after a deployment event: the deployment may be gradual."""
        if self.settings.deployment_max_wait_seconds <= 0:
            self.inbox.delete([job.message_id])
            return
        interval = self.settings.deployment_recheck_seconds
        now = time.monotonic()
        self._pending[job.message_id] = _Pending(
            job, now + self.settings.deployment_max_wait_seconds, now + interval, interval
        )
        self.inbox.extend([job.message_id], math.ceil(interval) + self.settings.visibility_timeout)
        log(
            LOG,
            logging.INFO,
            "deployment not visible yet; re-checking",
            message_id=job.message_id,
            every_s=interval,
        )

    def _recheck(self, pending: _Pending) -> None:
        job = pending.job
        change = job.change
        assert isinstance(change, DeploymentStarted)
        state = None
        if change.deployment_number is not None:
            state = self.refresher.configs.deployment_state(
                change.application_id, change.environment_id, change.deployment_number
            )
        outcome = self._refresh(job.targets, f"recheck:{job.message_id}")
        now = time.monotonic()
        done_reason = None
        if outcome.ok and outcome.changed:
            done_reason = "new content"
        elif outcome.ok and state in _SETTLED:
            done_reason = f"deployment {state.lower()}"
        elif now >= pending.deadline:
            done_reason = "max wait reached"
        if done_reason:
            del self._pending[job.message_id]
            log(
                LOG,
                logging.INFO,
                "deployment tracking finished",
                message_id=job.message_id,
                result=done_reason,
            )
            if outcome.ok:
                self.inbox.delete([job.message_id])
            else:
                self.inbox.drop(job.message_id)
            return
        pending.interval = min(pending.interval * 2, _MAX_RECHECK_INTERVAL)
        pending.due = min(now + pending.interval, pending.deadline)
        if self.inbox.extend(
            [job.message_id], math.ceil(pending.interval) + self.settings.visibility_timeout
        ):
            # The receipt is no longer valid (e.g. redelivered): the new delivery takes over.
            del self._pending[job.message_id]
