"""Loopback HTTP transport for the API (api.py), hardened against a hostile local client.

One event loop per port (selectors, non-blocking sockets, HTTP/1.1 keep-alive and
pipelining): a cached answer is parsed, built and written without a thread handoff, and
connections cost no thread (a thread-per-connection server had twice the p99 over 50
connections, bench/agent_bench.py). http_request.py cuts requests from the byte stream and
parses them with the stdlib's parser over the buffered bytes. What the stdlib leaves open is
closed there and here:

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
import queue
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .api import Api
from .http_request import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    RequestHandler,
    may_call_aws,
    request_size,
)
from .logs import log

LOG = logging.getLogger("config_agent.server")
MAX_CONNECTIONS = 100
IDLE_TIMEOUT_SECONDS = 30
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Content-Length: 32\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
         b'{"error":"too many connections"}')


class AgentHTTPServer:
    """One loopback port served by one event loop (`serve_forever`): cached answers never wait
    for another thread; requests that may call AWS (a versionStage or versionId not cached
    yet) run on a small pool, so a slow AWS call holds up only its own connection."""

    def __init__(self, port: int, api: Api) -> None:
        # Loopback only, by construction: there is deliberately no bind-address setting.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(("127.0.0.1", port))
            self.socket.listen(128)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.api = api
        self.active_connections = 0
        self._limit = MAX_CONNECTIONS
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
                    self._close_idle(now)
                    next_sweep = now + 1.0
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
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # closed, or its buffer is full: the loop wakes either way

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
            self._guarded(conn, self._pool_answered, conn, data, close)

    def _pool_answered(self, conn: _Connection, data: bytes, close: bool) -> None:
        if not conn.closed:
            self._answered(conn, data, close)
        if not conn.closed:
            self._serve_buffered(conn)  # what was pipelined behind it; then settles

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
        if events & selectors.EVENT_WRITE:
            self._flush(conn)
        if not events & selectors.EVENT_READ or conn.closed:
            return
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            conn.eof = True  # the client is done sending: answer what it sent, then close
        elif conn.busy and len(conn.inbox) + len(chunk) > MAX_HEAD_BYTES + MAX_BODY_BYTES:
            self._close(conn)  # piling requests behind a pending one: bound the buffer
            return
        conn.inbox += chunk
        conn.last_active = time.monotonic()
        self._serve_buffered(conn)

    def _serve_buffered(self, conn: _Connection) -> None:
        """Answer every complete request buffered on `conn`, in order (pipelining); the answer
        that may call AWS goes to the pool and the rest waits for it."""
        while not conn.busy and not conn.closing and not conn.closed:
            size = request_size(conn.inbox)
            if size is None:
                break
            raw = bytes(conn.inbox[:size])
            del conn.inbox[:size]
            if may_call_aws(raw):
                conn.busy = True
                self._pool.submit(self._answer_on_pool, conn, raw)
                break
            self._answered(conn, *self._answer(raw))
        if not conn.closed:
            self._settle(conn)

    def _answer_on_pool(self, conn: _Connection, raw: bytes) -> None:
        self._done.put((conn, *self._answer(raw)))
        self._wake()

    def _answer(self, raw: bytes) -> tuple[bytes, bool]:
        """(response bytes, close after them) for one buffered request."""
        handler = RequestHandler(raw, self)
        try:
            handler.handle_one_request()
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the loop
            log(LOG, logging.ERROR, "request failed", exception=type(exc).__name__)
            return b"", True
        return handler.wfile.getvalue(), handler.close_connection

    def _answered(self, conn: _Connection, data: bytes, close: bool) -> None:
        conn.outbox += data
        conn.closing = conn.closing or close
        conn.last_active = time.monotonic()
        self._send_pending(conn)

    def _flush(self, conn: _Connection) -> None:
        if self._send_pending(conn):
            self._settle(conn)

    def _send_pending(self, conn: _Connection) -> bool:
        """Write what the socket takes now; False if the connection broke (then closed)."""
        try:
            while conn.outbox:
                sent = conn.sock.send(conn.outbox)
                del conn.outbox[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(conn)
            return False
        return True

    def _settle(self, conn: _Connection) -> None:
        """Close a finished connection, else wait for what it needs next: to write its answer,
        to read (not after the client half-closed: that socket is readable forever), or
        nothing while its answer is on the pool."""
        done_reading = conn.closing or conn.eof
        if conn.outbox:
            self._watch(conn, selectors.EVENT_WRITE if done_reading
                        else selectors.EVENT_READ | selectors.EVENT_WRITE)
        elif conn.closing or (conn.eof and not conn.busy):
            self._close(conn)
        else:
            self._watch(conn, 0 if done_reading else selectors.EVENT_READ)

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

    def _close_idle(self, now: float) -> None:
        for conn in [c for c in self._connections
                     if not c.busy and now - c.last_active > IDLE_TIMEOUT_SECONDS]:
            self._close(conn)  # idle keep-alive connections release their slot

    def _close(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._connections.discard(conn)
        self.active_connections -= 1
        if conn.events:
            self._selector.unregister(conn.sock)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.sock.close()


class _Connection:
    __slots__ = ("sock", "inbox", "outbox", "last_active", "busy", "closing", "eof", "closed",
                 "events")

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.last_active = now
        self.busy = False  # a request of it runs on the pool: later ones wait (in order)
        self.closing = False  # answered with Connection: close; closes once flushed
        self.eof = False  # the client half-closed: answer what it sent, then close
        self.closed = False
        self.events = 0  # what the selector waits for on it (0: not registered)
