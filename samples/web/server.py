"""HTTP handling: `/health` never calls anything; `/` reads through the agent per request."""

from __future__ import annotations

import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from samples.common.agent import AgentClient, AgentError
from samples.common.logs import log
from samples.contract import HEALTH_PATH

from .settings import WebSettings

LOG = logging.getLogger("samples.web")
MAX_LOGGED_PATH = 200
"""Scanners send long junk paths; the log keeps their start (JSON-escaped, so no injection)."""
REQUEST_TIMEOUT_SECONDS = 10
"""A client that stalls mid-request cannot hold a thread (and so the shutdown) for longer."""


def page(client: AgentClient, secrets: tuple[tuple[str, str], ...]) -> tuple[int, dict[str, Any]]:
    """(status, body) of `/`: the profile's `greeting` and each secret, redacted."""
    try:
        config = client.configuration()
        summaries = {name: client.secret_summary(arn) for name, arn in secrets}
    except AgentError as err:
        log(LOG, logging.WARNING, "config agent call failed", reason=err.reason)
        return 503, {"error": err.public}
    greeting = config.document.get("greeting") if isinstance(config.document, dict) else None
    if not isinstance(greeting, str):
        log(LOG, logging.WARNING, "configuration has no string greeting")
        return 503, {"error": "configuration invalid"}
    return 200, {
        "greeting": greeting,
        "config_version": config.version,
        "secrets": {
            name: {"redacted": True, "type": s.kind, "length": s.length, "version_id": s.version_id}
            for name, s in summaries.items()
        },
    }


class WebServer(ThreadingHTTPServer):
    """Binds 0.0.0.0 (the ALB reaches the task ENI); on close, waits for requests in flight."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.client = AgentClient(settings.agent)
        super().__init__(("0.0.0.0", settings.port), Handler)


class Handler(BaseHTTPRequestHandler):
    server: WebServer
    # HTTP/1.0: one request per connection, so no idle keep-alive outlives a shutdown.
    protocol_version = "HTTP/1.0"
    server_version = "samples-web"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        started = time.monotonic()
        route = self._route(urlsplit(self.path).path)
        if route == HEALTH_PATH:
            status, body = 200, {"status": "ok"}
        elif route == "/":
            status, body = page(self.server.client, self.server.settings.secrets)
        else:
            status, body = 404, {"error": "not found"}
        self._reply(status, body)
        # Health checks every few seconds would drown the log at INFO.
        log(
            LOG,
            logging.DEBUG if route == HEALTH_PATH else logging.INFO,
            "request",
            method="GET",
            route=route[:MAX_LOGGED_PATH],
            status=status,
            ms=round((time.monotonic() - started) * 1000, 1),
        )

    def _route(self, path: str) -> str:
        """`/web`, `/web/x` -> `/`, `/x`: the same app answers behind and without the prefix."""
        prefix = self.server.settings.route_prefix
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        return path or "/"

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # do_GET logs one structured line instead

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log(LOG, logging.WARNING, "http error", detail=format % args)
