"""The agent's loopback HTTP/1.1 request stream: one strict parser frames and reads every request.

httptools (llhttp, the parser of Node.js) both cuts requests from a connection's bytes and
yields their method, target and headers, so no second parser can read a head differently
(request smuggling). llhttp runs in its strict default mode: no whitespace before a header
colon, no obs-fold, no bare CR or LF, no control characters, one valid Content-Length, no
Content-Length beside Transfer-Encoding. On top of it (RFC 9112): a 16 KiB head cap (llhttp has
none), 414 for long targets, exactly one Host in HTTP/1.1, no request bodies but a discarded
Content-Length one, no proxied requests, `Expect: 100-continue` answered. No sockets here.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import httptools

from .api import Response, error

MAX_HEAD_BYTES = 16 * 1024
MAX_TARGET_BYTES = 8 * 1024  # RFC 9112 section 3: at least 8000 octets should be supported
MAX_BODY_BYTES = 64 * 1024
FEED_BYTES = 2048
"""Bytes given to the parser at a time: a request line or header that never ends is noticed
within this much of the cap, and one feed queues at most a few dozen pipelined requests."""
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class Headers(dict[str, str]):
    """Header fields by lower-cased name (repeats joined with ", "); lookups ignore case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    headers: Headers
    keep_alive: bool

    @property
    def may_call_aws(self) -> bool:
        """A secret version other than the cached current one is fetched on first request."""
        query = self.target.partition("?")[2].lower()
        return "versionstage=" in query or "versionid=" in query


@dataclass(frozen=True, slots=True)
class Refusal:
    """The stream cannot be trusted from here: answer `status` and close."""

    status: int
    message: str


class Expects100:
    """Marks a request whose client waits for `100 Continue` before sending its body."""


EXPECTS_100 = Expects100()
Event = Request | Refusal | Expects100


class _Refused(Exception):
    pass


class RequestStream:
    """Bytes of one connection in, `events` out in order: each complete `Request`, and at most
    one `Refusal`, after which nothing more is read. `started` is when the request being read
    began (the connection's start for the first one), None between requests."""

    def __init__(self, now: float) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self.events: deque[Event] = deque()
        self.failed = False
        self.started: float | None = now
        self._in_head = False
        self._head_fed = 0
        self._begun = 0  # requests begun: tells whether the head being read is a new one
        self._new_message()

    def _new_message(self) -> None:
        self._target: list[bytes] = []
        self._head_bytes = 0
        self._headers = Headers()
        self._hosts = 0
        self._request: Request | None = None

    @property
    def in_request(self) -> bool:
        """A request has begun and is not complete yet."""
        return self.started is not None and (self._in_head or self._request is not None)

    def feed(self, data: bytes | memoryview) -> None:
        """Parse `data` (at most FEED_BYTES); events go to `events`."""
        if self.failed:
            return
        head_before = self._begun if self._in_head else -1
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade or CONNECT request: answered (and refused, see `_check`), then closed.
            self.failed = True
            return
        except httptools.HttpParserCallbackError as err:
            refused = err.__context__
            if not isinstance(refused, _Refused):
                raise
            self._refuse(*refused.args)
            return
        except httptools.HttpParserError:
            self._refuse(400, "malformed request")  # llhttp's reason may quote the input
            return
        if self._in_head:
            # Where in `data` a head began is not known: count all of it, allow one feed more.
            same = head_before == self._begun
            self._head_fed = (self._head_fed if same else 0) + len(data)
            if self._head_fed > MAX_HEAD_BYTES + FEED_BYTES:
                # A target over its cap is refused by on_url before: this is the header lines.
                self._refuse(431, "request head too large")

    def end_of_input(self) -> None:
        """The client half-closed: a request it began can never complete."""
        if self.in_request and not self.failed:
            self._refuse(400, "incomplete request")

    def _refuse(self, status: int, message: str) -> None:
        self.failed = True
        self.events.append(Refusal(status, message))

    # --- llhttp callbacks (a raised _Refused stops the parser: nothing after it is read) -------
    def on_message_begin(self) -> None:
        self._new_message()
        self._in_head = True
        self._begun += 1
        if self.started is None:
            self.started = time.monotonic()

    def on_url(self, fragment: bytes) -> None:
        self._target.append(fragment)
        if sum(map(len, self._target)) > MAX_TARGET_BYTES:
            raise _Refused(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_bytes + sum(map(len, self._target)) > MAX_HEAD_BYTES:
            raise _Refused(431, "request head too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "host":
            self._hosts += 1
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self._in_head = False
        request = Request(
            self._parser.get_method().decode("ascii"),
            b"".join(self._target).decode("latin-1"),
            self._headers,
            self._parser.should_keep_alive() and not self._parser.should_upgrade(),
        )
        refused = self._check(request, self._parser.get_http_version())
        if refused:
            raise _Refused(*refused)
        self._request = request
        if (
            "expect" in self._headers
            and self._headers.get("content-length", "0") != "0"
            and self._parser.get_http_version() == "1.1"
        ):  # RFC 9110 section 10.1.1
            self.events.append(EXPECTS_100)

    def on_message_complete(self) -> None:
        if self._request is not None:
            self.events.append(self._request)
        self._request = None
        self.started = None

    def _check(self, request: Request, version: str) -> tuple[int, str] | None:
        """Why `request` is refused (status, message), or None."""
        headers = request.headers
        target = request.target
        if version not in ("1.0", "1.1"):
            return 505, "http version not supported"
        if not target.startswith("/") or target.startswith("//"):
            return 400, "only origin-form request targets are served"
        if any(name in headers for name in PROXY_HEADERS):
            return 400, "forwarded requests are refused"  # as the AWS agents: an SSRF guard
        if "transfer-encoding" in headers:
            return 400, "request bodies must have a Content-Length"
        if int(headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return 413, "request body too large"  # llhttp has checked it is one number
        if "expect" in headers and headers["expect"].lower() != "100-continue":
            return 417, "expectation not supported"
        if self._hosts != 1 and (self._hosts or version == "1.1"):
            return 400, "exactly one Host header is required"  # RFC 9112 section 3.2
        if self._parser.should_upgrade():
            return 400, "protocol upgrades are not supported"
        return None


class _Clock:
    second = -1
    text = ""


_CLOCK = _Clock()


def http_date() -> str:
    """The Date header (RFC 9110 section 6.6.1), formatted once a second."""
    now = int(time.time())
    if now != _CLOCK.second:
        _CLOCK.second, _CLOCK.text = now, formatdate(now, usegmt=True)
    return _CLOCK.text


def encode(response: Response, *, head: bool = False, close: bool = False) -> bytes:
    """Status line, headers and (unless answering HEAD) body of `response`."""
    lines = [
        f"HTTP/1.1 {response.status} {_PHRASES.get(response.status, '')}",
        "Server: config-agent",
        f"Date: {http_date()}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Cache-Control: no-store",
    ]
    lines += [f"{key}: {value}" for key, value in response.headers.items()]
    if close:
        lines.append("Connection: close")
    lines.append("\r\n")
    encoded = "\r\n".join(lines).encode("latin-1")
    return encoded if head else encoded + response.body


def refusal(event: Refusal) -> bytes:
    """The answer to a request the stream stops at."""
    return encode(error(event.status, event.message), close=True)
