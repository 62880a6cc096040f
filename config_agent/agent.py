"""Wiring: cache + HTTP server + worker thread, health, and graceful shutdown."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import botocore.session

from .aws import Aws
from .cache import Cache
from .listener import Worker
from .logs import log
from .refresher import Refresher
from .server import AgentHTTPServer
from .settings import Settings

LOG = logging.getLogger("config_agent")


class Agent:
    def __init__(self, settings: Settings,
                 session: botocore.session.Session | None = None) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.aws = Aws(settings, self.stop_event, session)
        self.cache = Cache(settings.secret_ids, settings.profiles)
        self.refresher = Refresher(settings, self.aws, self.cache)
        self.worker = Worker(settings, self.aws, self.refresher, self.stop_event)
        self.server = AgentHTTPServer(settings.port, self.cache, settings.token, self.health)
        self._threads: list[threading.Thread] = []
        self._started_at = time.time()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Serve HTTP at once (503 until loaded), then fetch everything and listen."""
        http = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                name="http", daemon=True)
        # Daemon: a long poll in flight cannot be interrupted, and must not delay exit.
        work = threading.Thread(target=self.worker.run, name="worker", daemon=True)
        self._threads = [http, work]
        http.start()
        log(LOG, logging.INFO, "listening", address="127.0.0.1", port=self.port,
            secrets=len(self.settings.secret_ids), configurations=len(self.settings.profiles))
        work.start()

    def health(self) -> tuple[int, dict[str, Any]]:
        states = list(self.cache.states.values())
        missing = sum(1 for s in states if not s.has_value)
        failing = sum(1 for s in states if s.problem is not None)
        doc: dict[str, Any] = {"items": len(states), "missing": missing, "failing": failing,
                               "uptime_s": int(time.time() - self._started_at)}
        if not self.worker.started.is_set():
            doc["status"] = "starting"
            return 503, doc
        if missing:
            doc["status"] = "unhealthy"
            return 503, doc
        aws_ok = self.aws.reachable and self.worker.queue_ok and not failing
        doc["status"] = "ok" if aws_ok else "degraded"
        return 200, doc

    def shutdown(self) -> None:
        """Stop receiving, let an in-flight batch finish (bounded), then stop serving."""
        if self.stop_event.is_set():
            return
        log(LOG, logging.INFO, "shutting down")
        self.stop_event.set()
        grace = self.settings.shutdown_grace_seconds
        if self.worker.busy.acquire(timeout=grace):
            self.worker.busy.release()
        else:
            log(LOG, logging.WARNING, "in-flight work did not finish within the grace period")
        worker = self._threads[1] if len(self._threads) > 1 else None
        if worker is not None:
            # Returns at once unless the worker is between a receive and its batch.
            worker.join(timeout=min(0.5, grace))
        self.server.shutdown()
        self.server.server_close()
        log(LOG, logging.INFO, "stopped")
