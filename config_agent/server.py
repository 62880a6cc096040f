"""Loopback HTTP API, compatible with the Secrets Manager Agent and the AppConfig Agent.

stdlib ThreadingHTTPServer with HTTP/1.1 keep-alive: measured well above 3,000 req/s on two
cores once Nagle is off and each response leaves in one write (see bench/agent_bench.py).
"""

from __future__ import annotations

import hmac
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .cache import Cache, Entry
from .contract import TOKEN_HEADER
from .logs import log

LOG = logging.getLogger("config_agent.server")
_CONFIG_PREFIX = "/applications/"


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


class AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, cache: Cache, token: str,
                 health: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        # Loopback only, by construction: there is deliberately no bind-address setting.
        super().__init__(("127.0.0.1", port), _Handler)
        self.cache = cache
        self.token = token.encode("utf-8")
        self.health = health

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Default prints a traceback to stderr; a dropped client connection is routine.
        log(LOG, logging.DEBUG, "connection error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "config-agent"
    sys_version = ""
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers + body flushed as one write per response
    timeout = 60          # idle keep-alive connections release their thread
    server: AgentHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # access logs would be noise at thousands of req/s; errors are logged below

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, _json({"error": message}), extra=extra)

    def _authorised(self) -> bool:
        supplied = self.headers.get(TOKEN_HEADER)
        if supplied is None:
            self._error(401, "missing token")
            return False
        # Header values arrive latin-1 decoded; re-encoding yields the bytes that were sent.
        given = supplied.strip().encode("latin-1", "replace")
        if not hmac.compare_digest(given, self.server.token):
            self._error(403, "bad token")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        try:
            self._route()
        except (ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bad request must not kill the server
            log(LOG, logging.ERROR, "request failed", exception=type(exc).__name__)
            self._error(500, "internal error")

    def _other(self) -> None:
        if self._authorised():
            self._error(405, "method not allowed", {"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/health":
            status, doc = self.server.health()
            self._send(status, _json(doc))
            return
        if path == "/ping":  # the Secrets Manager Agent's health path
            status, _ = self.server.health()
            self._send(status, b"healthy" if status == 200 else b"unhealthy", "text/plain")
            return
        if not self._authorised():
            return
        if "X-Forwarded-For" in self.headers:
            # Same rule as the AWS agents: a proxied request is an SSRF attempt.
            self._error(400, "forwarded requests are refused")
            return
        if path == "/secretsmanager/get":
            self._secret(parse_qs(parts.query))
        elif path.startswith("/v1/"):  # the Secrets Manager Agent's path style
            query = parse_qs(parts.query)
            query["secretId"] = [unquote(path[len("/v1/"):])]
            self._secret(query)
        elif path.startswith(_CONFIG_PREFIX):
            self._configuration(path)
        else:
            self._error(404, "not found")

    def _secret(self, query: dict[str, list[str]]) -> None:
        secret_id = (query.get("secretId") or [""])[0]
        if not secret_id:
            self._error(400, "secretId is required")
            return
        stage = (query.get("versionStage") or ["AWSCURRENT"])[0]
        if stage != "AWSCURRENT":
            self._error(400, "only the AWSCURRENT stage is served")
            return
        configured, entry = self.server.cache.secret(secret_id)
        if configured is None:
            self._error(404, "secret is not served by this agent")
            return
        version = (query.get("versionId") or [None])[0]
        if entry is not None and version is not None and version != entry.version:
            self._error(400, "only the AWSCURRENT version is served")
            return
        self._entry(entry)

    def _configuration(self, path: str) -> None:
        # /applications/<app>/environments/<env>/configurations/<profile>
        segs = [unquote(s) for s in path.split("/")]
        if (len(segs) != 7 or segs[3] != "environments" or segs[5] != "configurations"
                or not all(segs[i] for i in (2, 4, 6))):
            self._error(404, "not found")
            return
        known, entry = self.server.cache.configuration(f"{segs[2]}/{segs[4]}/{segs[6]}")
        if not known:
            self._error(404, "configuration is not served by this agent")
            return
        self._entry(entry)

    def _entry(self, entry: Entry | None) -> None:
        if entry is None:
            self._error(503, "not available yet", {"Retry-After": "5"})
            return
        version = entry.version
        ok = version and version.isascii() and version.isprintable()
        extra = {"Configuration-Version": version} if ok else None
        self._send(200, entry.body, entry.content_type, extra)
