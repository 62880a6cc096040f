"""The SQS messages the agent holds a receipt for, and the batch calls that settle them.

A received message stays registered until it is deleted (its change is served), dropped (left to
SQS: visible again after the visibility timeout, to the DLQ after maxReceiveCount) or handed back.
`hand_back()` may run on another thread (shutdown after the grace period): it makes every
registered message visible again at once, so another consumer can take it without waiting out
the visibility timeout.

Batch calls settle up to 10 messages each; they need no permissions beyond sqs:DeleteMessage and
sqs:ChangeMessageVisibility ("setting permissions for DeleteMessage ... sets permissions for the
corresponding batch versions", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
SQSDeveloperGuide/sqs-batch-api.html).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from .aws import Aws, AwsError
from .logs import log

LOG = logging.getLogger("config_agent.inbox")
BATCH = 10  # SQS batch actions take at most 10 entries


class Inbox:
    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.queue_url: str | None = None
        self._lock = threading.Lock()
        self._receipts: dict[str, str] = {}  # message id -> receipt handle
        self._handed_back = False

    def add(self, messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Register received messages; after a hand-back, release them and return none."""
        messages = list(messages)
        with self._lock:
            if not self._handed_back:
                for m in messages:
                    self._receipts[str(m.get("MessageId", ""))] = str(m.get("ReceiptHandle", ""))
                return messages
        self._visibility(
            {str(m.get("MessageId", "")): str(m.get("ReceiptHandle", "")) for m in messages}, 0
        )
        return []

    @property
    def handed_back(self) -> bool:
        return self._handed_back

    def drop(self, message_id: str) -> None:
        """Leave the message to SQS: redelivered after its visibility timeout, or to the DLQ."""
        with self._lock:
            self._receipts.pop(message_id, None)

    def delete(self, message_ids: Iterable[str]) -> None:
        """DeleteMessageBatch: the changes these messages announced are served."""
        with self._lock:
            entries = {m: self._receipts.pop(m) for m in message_ids if m in self._receipts}
        for chunk in _chunks(entries):
            failed = self._batch("delete_message_batch", chunk)
            for message_id in failed:
                # Not fatal: the event is redelivered and the refresh repeated (idempotent).
                log(LOG, logging.WARNING, "deleting message failed", message_id=message_id)

    def extend(self, message_ids: Iterable[str], seconds: int) -> set[str]:
        """Keep messages hidden `seconds` longer; returns ids whose receipt no longer works."""
        with self._lock:
            entries = {m: self._receipts[m] for m in message_ids if m in self._receipts}
        lost = set(self._visibility(entries, seconds))
        for message_id in lost:
            self.drop(message_id)
        return lost

    def hand_back(self) -> int:
        """Shutdown (any thread): every registered message visible again now; later ones too."""
        with self._lock:
            self._handed_back = True
            entries, self._receipts = self._receipts, {}
        self._visibility(entries, 0)
        if entries:
            log(LOG, logging.INFO, "unprocessed messages handed back", count=len(entries))
        return len(entries)

    def _visibility(self, entries: dict[str, str], seconds: int) -> list[str]:
        failed: list[str] = []
        for chunk in _chunks(entries):
            failed += self._batch(
                "change_message_visibility_batch", chunk, VisibilityTimeout=seconds
            )
        return failed

    def _batch(self, operation: str, chunk: list[tuple[str, str]], **extra: Any) -> list[str]:
        """One batch call; the message ids whose entry failed (all of them if the call did)."""
        ids = {str(i): message_id for i, (message_id, _) in enumerate(chunk)}
        entries = [
            {"Id": str(i), "ReceiptHandle": receipt, **extra}
            for i, (_, receipt) in enumerate(chunk)
        ]
        try:
            resp = self.aws.call(
                "sqs", operation, retries=1, QueueUrl=self.queue_url, Entries=entries
            )
        except AwsError as err:
            log(
                LOG,
                logging.WARNING,
                "sqs batch call failed",
                operation=err.operation,
                code=err.code,
                messages=len(chunk),
            )
            return list(ids.values())
        return [ids[str(f.get("Id"))] for f in resp.get("Failed") or [] if str(f.get("Id")) in ids]


def _chunks(entries: dict[str, str]) -> Iterable[list[tuple[str, str]]]:
    items = list(entries.items())
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]
