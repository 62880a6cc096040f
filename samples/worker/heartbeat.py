"""A file whose mtime the worker loop refreshes; `--check-health` reads its age.

A live process is not a working one: the loop itself beats (before each poll, after each job,
before each backoff), so a loop stuck in a call or a job goes stale and the container is
reported UNHEALTHY.
"""

from __future__ import annotations

import time
from pathlib import Path

from .settings import HeartbeatSettings


def beat(path: Path) -> None:
    """Refresh the heartbeat (creates the file the first time)."""
    path.touch()


def age_seconds(path: Path) -> float | None:
    """Seconds since the last beat; None if there was none."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def check(settings: HeartbeatSettings) -> tuple[int, str]:
    """(exit code, one-line reason) for the container health check: 0 healthy, 1 not."""
    age = age_seconds(settings.path)
    if age is None:
        return 1, "no heartbeat yet"
    if age > settings.max_age_seconds:
        return 1, f"heartbeat stale: {age:.0f}s old (limit {settings.max_age_seconds:g}s)"
    return 0, f"heartbeat {age:.0f}s old"
