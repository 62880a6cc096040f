"""Keep received messages hidden while the worker is busy with them.

A refresh may take longer than the queue's visibility timeout (a slow AWS: several attempts,
each up to CONFIG_AGENT_AWS_TIMEOUT_SECONDS). Without a heartbeat the message would become
visible mid-refresh, be received again (counting towards maxReceiveCount) and possibly land in
the DLQ although nothing failed. The heartbeat extends the visibility of the messages being
worked on every third of the timeout, from its own thread, until the work is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

MIN_PERIOD_SECONDS = 0.2


class Heartbeat:
    """`with Heartbeat(extend, visibility_timeout):` calls `extend()` every third of the
    timeout while the block runs (never after it)."""

    def __init__(self, extend: Callable[[], object], visibility_timeout: float) -> None:
        self._extend = extend
        self._period = max(MIN_PERIOD_SECONDS, visibility_timeout / 3)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self._period):
            self._extend()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
