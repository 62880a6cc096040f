"""The sample job: a JSON object `{"job_id": "...", "numbers": [1, 2], "work_seconds": 0}`.

Running it adds the numbers after `work_seconds` of simulated work. A body that is not such an
object is refused with `JobError`: the worker leaves it in the queue, and the queue's redrive
policy moves it to the DLQ after `maxReceiveCount` deliveries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

MAX_WORK_SECONDS = 60.0
"""Far below the work queue's visibility timeout (300 s), so a job finishes while hidden."""


class JobError(ValueError):
    """A malformed job; the message says why without quoting the body."""


@dataclass(frozen=True)
class Job:
    job_id: str
    numbers: tuple[float, ...]
    work_seconds: float = 0.0


def parse(body: str) -> Job:
    """The job in a message body, or JobError."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise JobError("body is not JSON") from None
    if not isinstance(doc, dict):
        raise JobError("body is not a JSON object")
    job_id, numbers, work = doc.get("job_id"), doc.get("numbers"), doc.get("work_seconds", 0)
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= 128:
        raise JobError("job_id must be a string of 1-128 characters")
    if not isinstance(numbers, list) or not all(
        isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers
    ):
        raise JobError("numbers must be a list of numbers")
    if (
        isinstance(work, bool)
        or not isinstance(work, (int, float))
        or not 0 <= work <= MAX_WORK_SECONDS
    ):
        raise JobError(f"work_seconds must be a number from 0 to {MAX_WORK_SECONDS:g}")
    return Job(job_id, tuple(numbers), float(work))


def run(job: Job) -> float:
    """Do the job: not interruptible, a stopping worker finishes it before exiting."""
    if job.work_seconds:
        time.sleep(job.work_seconds)
    return sum(job.numbers)
