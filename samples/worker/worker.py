"""The polling loop: receive, run each job, delete it only once it is done.

Delivery is at-least-once (a delete can fail, a job can be redelivered), so jobs must be
idempotent. A malformed or failed job is left alone: it becomes visible again after the
queue's visibility timeout and, after `maxReceiveCount` deliveries, the redrive policy moves it
to the DLQ.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from samples.common.agent import AgentClient, AgentError
from samples.common.logs import log

from . import heartbeat, jobs
from .settings import WorkerSettings

LOG = logging.getLogger("samples.worker")
MAX_BATCH = 10
"""SQS ReceiveMessage `MaxNumberOfMessages`: 1 to 10 (Amazon SQS API Reference)."""


def error_code(err: Exception) -> str:
    """The AWS error code of a ClientError, else the exception's type (never its text)."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code") or "ClientError")
    return type(err).__name__


class Backoff:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
    Jitter"): after n consecutive failures, sleep uniform(0, min(max, base * 2**n))."""

    def __init__(self, base: float, cap: float) -> None:
        self._base, self._cap, self._failures = base, cap, 0

    def next_delay(self) -> float:
        delay = random.uniform(0, min(self._cap, self._base * 2**self._failures))
        self._failures += 1
        return delay

    def reset(self) -> None:
        self._failures = 0


class Worker:
    """Runs on its own thread until `stop` is set; sets `stop` itself if it crashes."""

    def __init__(
        self, settings: WorkerSettings, sqs: Any, agent: AgentClient, stop: threading.Event
    ) -> None:
        self._s = settings
        self._sqs = sqs
        self._agent = agent
        self._stop = stop
        self._backoff = Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds)
        self.batch_size = 1
        """Last good `batch_size` from the AppConfig profile; 1 until one was read."""
        self._config_problem: str | None = None
        self.crashed = False

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll_once()
        except Exception as err:  # noqa: BLE001 (a crashed loop must still stop the process)
            self.crashed = True
            log(LOG, logging.CRITICAL, "worker loop crashed", error=type(err).__name__)
        finally:
            self._stop.set()

    def _poll_once(self) -> None:
        self._beat()
        self._refresh_batch_size()
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self._s.queue_url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self._s.wait_time_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
        except (BotoCoreError, ClientError) as err:
            delay = self._backoff.next_delay()
            log(
                LOG,
                logging.WARNING,
                "receive failed",
                error=error_code(err),
                retry_in_seconds=round(delay, 3),
            )
            self._beat()
            self._stop.wait(delay)
            return
        self._backoff.reset()
        for i, message in enumerate(messages):
            if self._stop.is_set():
                self._release(messages[i:])
                return
            self._process(message)
            self._beat()

    def _refresh_batch_size(self) -> None:
        """Read `batch_size` through the agent; keep the last good value on any problem."""
        try:
            doc = self._agent.configuration().document
            value = doc.get("batch_size") if isinstance(doc, dict) else None
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
                raise AgentError("batch_size missing or not 1-10")
        except AgentError as err:
            if err.reason != self._config_problem:  # one line per new problem, not per poll
                log(
                    LOG,
                    logging.WARNING,
                    "keeping batch size",
                    batch_size=self.batch_size,
                    reason=err.reason,
                )
            self._config_problem = err.reason
            return
        self._config_problem = None
        if value != self.batch_size:
            log(LOG, logging.INFO, "batch size", batch_size=value, previous=self.batch_size)
            self.batch_size = value

    def _process(self, message: dict[str, Any]) -> None:
        ids = {
            "message_id": message.get("MessageId"),
            "receive_count": message.get("Attributes", {}).get("ApproximateReceiveCount"),
        }
        try:
            job = jobs.parse(message.get("Body", ""))
        except jobs.JobError as err:
            log(LOG, logging.WARNING, "job rejected; left for redelivery", reason=str(err), **ids)
            return
        log(LOG, logging.INFO, "job started", job_id=job.job_id, **ids)
        started = time.monotonic()
        try:
            result = jobs.run(job)
        except Exception as err:  # noqa: BLE001 (one bad job must not stop the worker)
            log(
                LOG,
                logging.ERROR,
                "job failed; left for redelivery",
                job_id=job.job_id,
                error=type(err).__name__,
                **ids,
            )
            return
        try:
            self._sqs.delete_message(
                QueueUrl=self._s.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        except (BotoCoreError, ClientError) as err:
            log(
                LOG,
                logging.ERROR,
                "delete failed; job will be redelivered",
                job_id=job.job_id,
                error=error_code(err),
                **ids,
            )
            return
        log(
            LOG,
            logging.INFO,
            "job done",
            job_id=job.job_id,
            result=result,
            ms=round((time.monotonic() - started) * 1000, 1),
            **ids,
        )

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Stopping: make unstarted messages visible again at once for another worker."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        code: str | None
        try:
            failed = self._sqs.change_message_visibility_batch(
                QueueUrl=self._s.queue_url, Entries=entries
            ).get("Failed", [])
        except (BotoCoreError, ClientError) as err:
            failed, code = entries, error_code(err)
        else:
            code = failed[0].get("Code") if failed else None
        log(
            LOG,
            logging.WARNING if failed else logging.INFO,
            "released unstarted messages",
            released=len(entries) - len(failed),
            failed=len(failed),
            error=code,
        )

    def _beat(self) -> None:
        try:
            heartbeat.beat(self._s.heartbeat.path)
        except OSError as err:  # the health check reports it; keep working meanwhile
            log(LOG, logging.ERROR, "heartbeat write failed", errno=err.errno)
