"""Loopback HTTP transport for the API (api.py), hardened against a hostile local client.

One event loop per port (selectors, non-blocking sockets, HTTP/1.1 keep-alive and
pipelining): a cached answer is parsed, built and written without a thread handoff, and
connections cost no thread (a thread-per-connection server had twice the p99 over 50
connections, bench/agent_bench.py). Requests are framed and read by one strict parser
(http_request.py: httptools/llhttp). What the transport adds:

* at most `max_connections` connections are served at once (CONFIG_AGENT_HTTP_MAX_CONNECTIONS,
  default 1024, lowered to fit the process's file-descriptor limit); more are answered 503;
* a request must arrive whole within `request_timeout` seconds of its first byte, else 408
  and close, and a new connection must begin one as soon, else it is closed: slow senders
  cannot hold the slots;
* backpressure: a connection is not read while its unsent answers exceed 64 KiB or requests
  already read wait for an answer, so a client that pipelines and never reads costs a bounded
  amount of memory;
* idle keep-alive connections, and ones whose client stopped reading, close after 30 s.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .api import Api, error
from .contract import PORT_VARIABLE, PREFIX
from .http_request import (
    CONTINUE,
    EXPECTS_100,
    FEED_BYTES,
    Refusal,
    Request,
    RequestStream,
    encode,
    refusal,
)
from .logs import log
from .settings import Settings

LOG = logging.getLogger("config_agent.server")
MAX_CONNECTIONS = 1024
REQUEST_TIMEOUT_SECONDS = 5.0
IDLE_TIMEOUT_SECONDS = 30
LINGER_MAX_READS = 16
"""At most 16 x 64 KiB of unread input is dropped before a close (see _discard_unread)."""
RECV_BYTES = 32 * 1024
OUTBOX_LIMIT = 64 * 1024
"""Unsent answer bytes above which a connection's requests wait (and it is not read)."""
_RESERVED_FDS = 64  # boto3's connections, files, the listening and wake-up sockets
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: 32\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b'{"error":"too many connections"}'
)
_TIMED_OUT = Refusal(408, "request not received in time")


class PortInUse(OSError):
    """The port cannot be bound; says which of the agent's ports (and variable) it is."""

    def __init__(self, err: OSError, port: int, variable: str) -> None:
        super().__init__(err.errno, f"cannot listen on 127.0.0.1:{port} ({variable})")
        self.port = port
        self.variable = variable


def connection_budget(wanted: int, ports: int = 2) -> int:
    """`wanted` connections per port, or as many as the file-descriptor limit allows once the
    soft limit is raised towards the hard one (a container's default soft limit may be 1024)."""
    need = wanted * ports + _RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    allowed = max(1, (soft - _RESERVED_FDS) // ports)
    log(
        LOG,
        logging.WARNING,
        "connection cap lowered to the file-descriptor limit",
        wanted=wanted,
        allowed=allowed,
        nofile=soft,
    )
    return allowed


def http_limits(settings: Settings) -> dict[str, Any]:
    """The AgentHTTPServer keywords for `settings` (the cap: within the fd limit)."""
    ports = 1 if settings.secrets_port is None else 2
    return {
        "max_connections": connection_budget(settings.http_max_connections, ports),
        "request_timeout": settings.http_request_timeout_seconds,
    }


class AgentHTTPServer:
    """One loopback port served by one event loop (`serve_forever`): cached answers never wait
    for another thread; requests that may call AWS (a versionStage or versionId not cached
    yet) run on a small pool, so a slow AWS call holds up only its own connection."""

    def __init__(
        self,
        port: int,
        api: Api,
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        # Loopback only, by construction: there is deliberately no bind-address setting.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(("127.0.0.1", port))
            self.socket.listen(1024)
        except OSError as err:
            self.socket.close()
            which = PREFIX + "SECRETS_PORT" if api.secrets_only else PORT_VARIABLE
            raise PortInUse(err, port, which) from err
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.api = api
        self.active_connections = 0
        self._limit = max_connections
        self._request_timeout = request_timeout
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.socket, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)  # a full wake buffer must not block a pool thread
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="http-fetch")
        self._done: queue.SimpleQueue[tuple[_Connection, bytes, bool]] = queue.SimpleQueue()
        self._connections: set[_Connection] = set()
        self._stop = False
        self._stopped = threading.Event()
        self._stopped.set()

    # --- the loop -------------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        next_sweep = 0.0
        try:
            while not self._stop:
                for key, events in self._selector.select(poll_interval):
                    if key.fileobj is self.socket:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        self._drain_wakeups()
                    else:
                        self._guarded(key.data, self._on_ready, key.data, events)
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + min(1.0, self._request_timeout / 4)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop the loop and wait until it has stopped (from another thread)."""
        self._stop = True
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        for conn in list(self._connections):
            self._close(conn)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for sock in (self.socket, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed, or its buffer is full: it wakes either way
            self._wake_w.send(b"x")

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                conn, data, close = self._done.get_nowait()
            except queue.Empty:
                return
            conn.busy = False
            if not conn.closed:
                conn.outbox += data
                conn.closing = conn.closing or close
                self._guarded(conn, self._serve_buffered, conn)  # what was pipelined behind it

    # --- connections ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log(LOG, logging.DEBUG, "accept failed")
                return
            if self.active_connections >= self._limit:
                # Each connection costs buffers: refuse rather than grow without bound.
                try:
                    sock.setblocking(False)
                    sock.send(_BUSY)  # a fresh socket's send buffer takes it whole
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, time.monotonic())
            self._connections.add(conn)
            self.active_connections += 1
            self._watch(conn, selectors.EVENT_READ)

    def _guarded(self, conn: _Connection, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - one connection must not stop the loop
            log(LOG, logging.ERROR, "connection failed", exception=type(exc).__name__)
            self._close(conn)

    def _on_ready(self, conn: _Connection, events: int) -> None:
        if events & selectors.EVENT_WRITE and not self._send_pending(conn):
            return
        if events & selectors.EVENT_READ and conn.wants_input():
            try:
                chunk = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                chunk = None
            except OSError:
                chunk = b""
            if chunk == b"":
                conn.eof = True  # the client is done sending: answer what it sent, then close
                conn.stream.end_of_input()
            elif chunk:
                conn.inbox, conn.offset = chunk, 0
                conn.last_active = time.monotonic()
        self._serve_buffered(conn)

    def _serve_buffered(self, conn: _Connection) -> None:
        """Answer every request read from `conn`, in order (pipelining), while its unsent output
        stays small; the answer that may call AWS goes to the pool and the rest waits for it."""
        while True:
            self._answer_some(conn)
            if conn.outbox and not self._send_pending(conn):
                return  # broken, closed
            if conn.busy or conn.closing or conn.drained() or len(conn.outbox) > OUTBOX_LIMIT:
                break  # else the socket took the answers: go on with the requests behind them
        self._settle(conn)

    def _answer_some(self, conn: _Connection) -> None:
        stream = conn.stream
        while not conn.busy and not conn.closing and len(conn.outbox) <= OUTBOX_LIMIT:
            if not stream.events:
                if conn.offset >= len(conn.inbox):
                    return
                inbox, offset = conn.inbox, conn.offset
                stream.feed(
                    inbox
                    if offset == 0 and len(inbox) <= FEED_BYTES
                    else inbox[offset : offset + FEED_BYTES]
                )
                conn.offset = offset + FEED_BYTES
                continue
            event = stream.events.popleft()
            if event is EXPECTS_100:
                if not stream.events:  # its body has not arrived: the client waits for this
                    conn.outbox += CONTINUE
            elif isinstance(event, Request):
                if event.may_call_aws:
                    conn.busy = True
                    self._pool.submit(self._answer_on_pool, conn, event)
                else:
                    conn.outbox += self._answer(event)
                    conn.closing = not event.keep_alive
            elif isinstance(event, Refusal):
                conn.outbox += refusal(event)
                conn.closing = True

    def _answer_on_pool(self, conn: _Connection, request: Request) -> None:
        self._done.put((conn, self._answer(request), not request.keep_alive))
        self._wake()

    def _answer(self, request: Request) -> bytes:
        try:
            response = self.api.handle(request.method, request.target, request.headers)
        except Exception as exc:  # noqa: BLE001 - a failing route must not stop the loop
            log(LOG, logging.ERROR, "request failed", exception=type(exc).__name__)
            response = error(500, "internal error")
        return encode(response, head=request.method == "HEAD", close=not request.keep_alive)

    def _send_pending(self, conn: _Connection) -> bool:
        """Write what the socket takes now; False if the connection broke (then closed)."""
        try:
            while conn.outbox:
                sent = conn.sock.send(conn.outbox)
                del conn.outbox[:sent]
                conn.last_active = time.monotonic()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(conn)
            return False
        return True

    def _settle(self, conn: _Connection) -> None:
        """Close a finished connection, else wait for what it needs next: to write its answers
        (then to go on with the requests behind them), or to read once all it sent is answered;
        nothing while its answer is on the pool."""
        if conn.closed:
            return
        finished = conn.closing or (conn.eof and not conn.busy and conn.drained())
        if finished and not conn.outbox:
            self._close(conn)
            return
        events = selectors.EVENT_WRITE if conn.outbox else 0
        if conn.wants_input():
            events |= selectors.EVENT_READ
        self._watch(conn, events)

    def _watch(self, conn: _Connection, events: int) -> None:
        """Wait for `events` on the connection (0: none, while its answer is on the pool)."""
        if events == conn.events:
            return
        if conn.events == 0:
            self._selector.register(conn.sock, events, conn)
        elif events == 0:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, events, conn)
        conn.events = events

    def _sweep(self, now: float) -> None:
        """408 to requests not received in time; close connections that sent nothing in time,
        idle keep-alive ones and ones whose client stopped reading."""
        for conn in list(self._connections):
            if conn.busy or conn.closing:
                continue
            started = conn.stream.started
            if started is not None and now - started > self._request_timeout and conn.wants_input():
                if conn.stream.in_request:
                    self._guarded(conn, self._time_out, conn)
                else:  # connected, sent nothing: a client reusing it later sees a plain close
                    self._close(conn)
            elif now - conn.last_active > IDLE_TIMEOUT_SECONDS and (started is None or conn.outbox):
                self._close(conn)  # idle keep-alive connections release their slot

    def _time_out(self, conn: _Connection) -> None:
        conn.stream.failed = True
        conn.outbox += refusal(_TIMED_OUT)
        conn.closing = True
        if self._send_pending(conn):
            self._settle(conn)

    def _close(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._connections.discard(conn)
        self.active_connections -= 1
        if conn.events:
            self._selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
            if not conn.eof:
                _discard_unread(conn.sock)
        conn.sock.close()


def _discard_unread(sock: socket.socket) -> None:
    """Read and drop what the client already sent (bounded, never waiting): closing a socket
    with unread input makes the kernel send RST, and an RST can destroy a refusal the client has
    not read yet (RFC 9112 section 9.6: a server closes gracefully, half-closing first)."""
    sock.setblocking(False)
    for _ in range(LINGER_MAX_READS):
        if not sock.recv(65536):
            return


class _Connection:
    __slots__ = (
        "busy",
        "closed",
        "closing",
        "eof",
        "events",
        "inbox",
        "last_active",
        "offset",
        "outbox",
        "sock",
        "stream",
    )

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.stream = RequestStream(now)
        self.inbox = b""  # the last chunk read; `offset` of it is parsed
        self.offset = 0
        self.outbox = bytearray()
        self.last_active = now
        self.busy = False  # a request of it runs on the pool: later ones wait (in order)
        self.closing = False  # answered with Connection: close; closes once flushed
        self.eof = False  # the client half-closed: answer what it sent, then close
        self.closed = False
        self.events = 0  # what the selector waits for on it (0: not registered)

    def drained(self) -> bool:
        """Everything read has been parsed and answered."""
        return self.offset >= len(self.inbox) and not self.stream.events

    def wants_input(self) -> bool:
        """Read more only once all it sent is answered and the answers are (mostly) sent."""
        return (
            not (self.closing or self.eof or self.busy or self.closed)
            and self.drained()
            and len(self.outbox) <= OUTBOX_LIMIT
        )
