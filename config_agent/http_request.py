"""One HTTP request of the agent's loopback API: where it ends in the byte stream
(`request_size`) and how it is parsed and answered (`RequestHandler`, the stdlib's parser over
the buffered bytes, with the hardening described in server.py). No sockets here."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from io import BytesIO
from typing import Any, BinaryIO, Protocol

from .api import Api, Response, error
from .logs import log

LOG = logging.getLogger("config_agent.server")
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


class HasApi(Protocol):
    api: Api


_HEAD_END = re.compile(rb"\n\r?\n")
_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:", re.I | re.M)


def request_size(buffered: bytes | bytearray) -> int | None:
    """Bytes of the first request in `buffered`, or None while it is incomplete. A request the
    handler will refuse (garbled line, head over the budget, body it cannot bound) ends where
    the refusal can be decided, so it is answered at once and the connection closed."""
    line_end = buffered.find(b"\n")
    if line_end < 0:
        return len(buffered) if len(buffered) > MAX_HEAD_BYTES else None
    if len(bytes(buffered[:line_end + 1]).split()) != 3:
        return line_end + 1  # blank, HTTP/0.9 or garbled: 400
    end = _HEAD_END.search(buffered, line_end)
    if end is None:
        return len(buffered) if len(buffered) > MAX_HEAD_BYTES else None
    head_size = end.end()
    if head_size > MAX_HEAD_BYTES:
        return head_size  # 431
    head = bytes(buffered[:head_size])
    lengths = _LENGTH.findall(head)
    if _CHUNKED.search(head) or len(lengths) > 1:
        return head_size  # 400
    if not lengths:
        return head_size
    if not lengths[0].isdigit() or int(lengths[0]) > MAX_BODY_BYTES:
        return head_size  # 400 or 413
    total = head_size + int(lengths[0])
    return total if len(buffered) >= total else None


def may_call_aws(raw: bytes) -> bool:
    """A secret version other than the cached current one is fetched on first request."""
    line = raw.split(b"\n", 1)[0].lower()
    return b"versionstage=" in line or b"versionid=" in line


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


class RequestHandler(BaseHTTPRequestHandler):
    """The stdlib's request parsing over one buffered request (`rfile`); the answer is collected
    in `wfile` and `close_connection` says whether the connection ends after it."""

    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "config-agent"
    sys_version = ""
    server: HasApi

    def __init__(self, raw: bytes, server: HasApi) -> None:  # no socket: no super()
        self.server = server
        self.client_address = ("127.0.0.1", 0)
        self.rfile = BytesIO(raw)
        self.wfile = BytesIO()
        self.close_connection = True  # until parse_request sees HTTP/1.1 keep-alive

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

