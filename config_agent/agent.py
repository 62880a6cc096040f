"""Wiring: cache + HTTP server + worker thread, health, and graceful shutdown."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .api import Api
from .aws import Aws, Session
from .cache import Cache
from .fanout import OwnQueue, TaskIdentity, task_identity
from .listener import Worker
from .logs import log
from .refresher import Refresher
from .server import AgentHTTPServer, http_limits
from .settings import Settings

LOG = logging.getLogger("config_agent")


class Agent:
    def __init__(self, settings: Settings, session: Session | None = None) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.aws = Aws(settings, self.stop_event, session)
        self.cache = Cache(settings.secret_ids, settings.profiles)
        self.refresher = Refresher(settings, self.aws, self.cache)
        self.refresher.restore()  # last good values from CONFIG_AGENT_BACKUP_DIR, if any
        self.identity: TaskIdentity | None = None
        self.own_queue: OwnQueue | None = None
        if settings.fanout:
            # On ECS: the real task id or IdentityError (exit, ECS restarts the container).
            self.identity = task_identity(settings.ecs_metadata_uri)
            self.own_queue = OwnQueue(settings, self.aws, self.identity)
        self.worker = Worker(settings, self.aws, self.refresher, self.stop_event, self.own_queue)
        select = self.refresher.versions.get
        limits = http_limits(settings)
        self.server = AgentHTTPServer(
            settings.port,
            Api(
                self.cache,
                settings.token,
                self.health,
                select,
                configuration_token=settings.appconfig_require_token,
            ),
            **limits,
        )
        # The Secrets Manager Agent's port: apps written for it work unchanged.
        self.secrets_server: AgentHTTPServer | None = None
        if settings.secrets_port is not None:
            try:
                self.secrets_server = AgentHTTPServer(
                    settings.secrets_port,
                    Api(self.cache, settings.token, self.health, select, secrets_only=True),
                    **limits,
                )
            except OSError:
                self.server.server_close()
                raise
        self._threads: list[threading.Thread] = []
        self._started_at = time.time()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def secrets_port(self) -> int | None:
        server = self.secrets_server
        return None if server is None else int(server.server_address[1])

    def _servers(self) -> list[AgentHTTPServer]:
        return [s for s in (self.server, self.secrets_server) if s is not None]

    def start(self) -> None:
        """Serve HTTP at once (503 until loaded), then fetch everything and listen."""
        http = [
            threading.Thread(
                target=s.serve_forever, kwargs={"poll_interval": 0.2}, name=f"http-{i}", daemon=True
            )
            for i, s in enumerate(self._servers())
        ]
        # Daemon: a long poll in flight cannot be interrupted, and must not delay exit.
        work = threading.Thread(target=self.worker.run, name="worker", daemon=True)
        self._threads = [work, *http]
        for thread in http:
            thread.start()
        log(
            LOG,
            logging.INFO,
            "listening",
            address="127.0.0.1",
            port=self.port,
            secrets_port=self.secrets_port,
            secrets=len(self.settings.secret_ids),
            configurations=len(self.settings.profiles),
            mode="fan-out" if self.settings.fanout else "queue",
            queue=self.own_queue.name if self.own_queue else None,
        )
        work.start()

    def health(self) -> tuple[int, dict[str, Any]]:
        states = list(self.cache.states.values())
        missing = sum(1 for s in states if not s.has_value)
        failing = sum(1 for s in states if s.problem is not None)
        doc: dict[str, Any] = {
            "items": len(states),
            "missing": missing,
            "failing": failing,
            "uptime_s": int(time.time() - self._started_at),
        }
        if not self.worker.started.is_set():
            if states and not missing:  # every item restored from the backup: serving
                doc["status"] = "degraded"
                return 200, doc
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
        # Received but unsettled messages become visible again now, not after the visibility
        # timeout (the worker does the same when it stops in time; the second call is a no-op).
        self.worker.inbox.hand_back()
        worker = self._threads[0] if self._threads else None
        if worker is not None and not self.worker.polling:
            # Returns at once unless the worker is between a receive and its batch. A long
            # poll in flight holds no work and is abandoned (see README, SIGTERM).
            worker.join(timeout=min(0.5, grace))
        # The own queue and its subscription stay: the task role may not delete them. The
        # config stack's reaper removes both when ECS reports this task STOPPED.
        for server in self._servers():
            server.shutdown()
            server.server_close()
        log(LOG, logging.INFO, "stopped")
