"""`python -m samples.worker` runs the worker; `--check-health` is the container health check.

SIGTERM/SIGINT: the loop stops receiving, finishes the job in progress, hands the unstarted
messages of its batch back (visibility 0), and the process exits 0. A long poll in flight is
waited for (up to `WORKER_SHUTDOWN_GRACE_SECONDS`, default 25 s: within ECS's default 30 s
stop timeout), so no message it returns is stranded until its visibility timeout.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from samples.common import lifecycle, logs
from samples.common.agent import AgentClient
from samples.common.settings import SettingsError

from . import heartbeat
from .settings import CONNECT_TIMEOUT_SECONDS, READ_SLACK_SECONDS, HeartbeatSettings, WorkerSettings

LOG = logging.getLogger("samples.worker")
USAGE = "usage: python -m samples.worker [--check-health]"


def check_health() -> int:
    """Exit code of the health check; prints one line (Docker keeps it in the health log)."""
    try:
        code, reason = heartbeat.check(HeartbeatSettings.from_env(os.environ))
    except SettingsError as err:
        code, reason = 1, str(err)
    print(reason)
    return code


def run() -> int:
    settings, stop = lifecycle.start(WorkerSettings.from_env, LOG)
    import boto3  # after logging: importing botocore takes a moment
    from botocore.config import Config

    from .worker import Worker

    try:
        heartbeat.beat(settings.heartbeat.path)
    except OSError as err:
        logs.log(LOG, logging.CRITICAL, "cannot write heartbeat", errno=err.errno)
        return 1
    # One retry policy, the loop's backoff; the read timeout covers the long poll.
    sqs = boto3.client(
        "sqs",
        region_name=settings.region,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.wait_time_seconds + READ_SLACK_SECONDS,
        ),
    )
    worker = Worker(settings, sqs, AgentClient(settings.agent), stop)
    thread = threading.Thread(target=worker.run, name="worker", daemon=True)
    thread.start()
    logs.log(
        LOG,
        logging.INFO,
        "started",
        queue=settings.queue_url.rsplit("/", 1)[-1],
        wait_time_seconds=settings.wait_time_seconds,
    )
    lifecycle.wait(stop)
    thread.join(settings.shutdown_grace_seconds)
    if thread.is_alive():
        logs.log(LOG, logging.ERROR, "shutdown grace expired with work in progress")
        return 1
    if worker.crashed:
        return 1
    logs.log(LOG, logging.INFO, "stopped")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--check-health"]:
        return check_health()
    if argv:
        print(USAGE, file=sys.stderr)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
