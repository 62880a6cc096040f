"""Waiting on a condition with a deadline, never sleeping and then asserting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class TimedOut(AssertionError):
    """A condition did not hold in time (an AssertionError, so pytest reports it as a failure)."""


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 8.0,
    interval: float = 0.02,
    what: str = "condition",
) -> Any:
    """Call `predicate` every `interval` seconds until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out waiting for {what} ({timeout} s)")
        time.sleep(interval)


def seconds_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.002
) -> float:
    """Seconds until `predicate` holds, polled every `interval` (for the bench and the demo)."""
    started = time.perf_counter()
    wait_for(predicate, timeout, interval, what)
    return time.perf_counter() - started
