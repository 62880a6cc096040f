"""Loopback HTTP transport for the API (api.py), hardened against a hostile local client.

stdlib ThreadingHTTPServer with HTTP/1.1 keep-alive: measured well above 3,000 req/s on two
cores once Nagle is off and each response leaves in one write (see bench/agent_bench.py). What
the stdlib leaves open is closed here:

* the request head (request line + headers) is read through a 16 KiB budget: more -> 431 before
  anything else is buffered (the stdlib allows 100 header lines of 64 KiB each);
* at most 100 connections are served at once; more are answered 503 and closed;
* a request body is read and discarded (at most 64 KiB), never left on the connection where
  keep-alive would parse it as the next request; chunked or larger bodies -> error and close;
* only origin-form targets (`/path`): absolute-form (`GET http://169.254.169.254/...`) and
  proxied requests (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) are refused, as the AWS agents
  refuse proxied requests (an SSRF guard);
* every error has a status line and a short JSON body, also for HTTP/0.9-style or garbled
  request lines, for which the stdlib sends a bare HTML page or nothing at all.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

from .api import Api, Response, error
from .logs import log

LOG = logging.getLogger("config_agent.server")
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_CONNECTIONS = 100
IDLE_TIMEOUT_SECONDS = 30
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Content-Length: 32\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
         b'{"error":"too many connections"}')


class AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not hold up shutdown: their threads are daemons.
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, api: Api) -> None:
        # Loopback only, by construction: there is deliberately no bind-address setting.
        super().__init__(("127.0.0.1", port), _Handler)
        self.api = api
        self._limit = MAX_CONNECTIONS
        self._lock = threading.Lock()
        self.active_connections = 0

    def _take_slot(self) -> bool:
        with self._lock:
            if self.active_connections >= self._limit:
                return False
            self.active_connections += 1
            return True

    def _free_slot(self) -> None:
        with self._lock:
            self.active_connections -= 1

    def process_request(self, request: Any, client_address: Any) -> None:
        # Each connection costs a thread and its buffers: refuse rather than grow without bound.
        if not self._take_slot():
            try:
                request.settimeout(0.2)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._free_slot()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._free_slot()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Default prints a traceback to stderr; a dropped client connection is routine.
        log(LOG, logging.DEBUG, "connection error")


class _HeadTooLarge(Exception):
    pass


class _HeadBudget:
    """The connection's reader, seen through a byte budget while the request head is read."""

    def __init__(self, rfile: BinaryIO, limit: int) -> None:
        self._rfile = rfile
        self.left = limit

    def readline(self, size: int = -1) -> bytes:
        cap = self.left + 1 if size < 0 else min(size, self.left + 1)
        line = self._rfile.readline(cap)
        self.left -= len(line)
        if self.left < 0:
            raise _HeadTooLarge
        return line


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "config-agent"
    sys_version = ""
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers + body flushed as one write per response
    timeout = IDLE_TIMEOUT_SECONDS  # idle keep-alive connections release their thread
    server: AgentHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # access logs would be noise at thousands of req/s; errors are logged below

    # --- reading one request ------------------------------------------------------------------
    def handle_one_request(self) -> None:
        self.command, self.request_version, self.requestline = "", "HTTP/1.1", ""
        self._answered = False
        rfile = self.rfile
        head = _HeadBudget(rfile, MAX_HEAD_BYTES)
        try:
            self.raw_requestline = head.readline()
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline.split()) != 3:
                # Blank, HTTP/0.9 (`GET /`) or garbled: the stdlib answers nothing, a bare body
                # without status line, or waits for headers that never come.
                self._fail(400, "malformed request line")
                return
            self.rfile = head  # type: ignore[assignment] - parse_request reads headers here
            try:
                parsed = self.parse_request()
            finally:
                self.rfile = rfile
            if not parsed:
                if not self._answered:
                    self._fail(400, "malformed request line")
                return
            self._serve()
            self.wfile.flush()
        except _HeadTooLarge:
            self._fail(431, "request head too large")
        except TimeoutError:
            self.close_connection = True

    def _serve(self) -> None:
        target = self.requestline.split()[1]  # as sent: the stdlib collapses a leading "//"
        if not target.startswith("/") or target.startswith("//"):
            self._fail(400, "only origin-form request targets are served")
            return
        if any(name in self.headers for name in PROXY_HEADERS):
            self._fail(400, "forwarded requests are refused")
            return
        if not self._discard_body():
            return
        try:
            response = self.server.api.handle(self.command, self.path, self.headers)
        except Exception as exc:  # noqa: BLE001 - a bad request must not kill the server
            log(LOG, logging.ERROR, "request failed", exception=type(exc).__name__)
            response = error(500, "internal error")
        self._send(response)

    def _discard_body(self) -> bool:
        """Consume a (bounded) body so keep-alive never parses it as the next request."""
        if "Transfer-Encoding" in self.headers:
            self._fail(400, "request bodies must have a Content-Length")
            return False
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return True
        raw = lengths[0].strip()
        if len(lengths) > 1 or not raw.isdigit():
            self._fail(400, "invalid Content-Length")
            return False
        remaining = int(raw)
        if remaining > MAX_BODY_BYTES:
            self._fail(413, "request body too large")
            return False
        while remaining:
            chunk = self.rfile.read(min(remaining, 8192))
            if not chunk:
                self.close_connection = True
                return False
            remaining -= len(chunk)
        return True

    # --- writing --------------------------------------------------------------------------------
    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The stdlib's parse errors, as JSON with a status line (its text may echo input)."""
        self._fail(code, HTTPStatus(code).phrase.lower())

    def _fail(self, status: int, message: str) -> None:
        """Answer an unusable request and close: after it, the stream cannot be trusted."""
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.0"  # the stdlib omits the status line for 0.9
        self.close_connection = True
        self._send(error(status, message, {"Connection": "close"}))

    def _send(self, response: Response) -> None:
        self._answered = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()

