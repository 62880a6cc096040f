"""The loopback fakes themselves: a client hanging up is routine, not a traceback in CI."""

from __future__ import annotations

import socket
import struct
import threading

from tests.config_agent.conftest import wait_for
from tests.config_agent.fakes import FaultProxy, _Base, _LoopbackService


class _BlockingUpstream(_LoopbackService):
    """Answers every POST only once `release` is set: the proxy's client is gone by then."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.received = threading.Event()
        outer = self

        class Handler(_Base):
            def do_POST(self) -> None:  # noqa: N802
                self._body()
                outer.received.set()
                outer.release.wait(10)
                self._reply(200, b"{}")

        self._serve(Handler)

    def close(self) -> None:
        self.release.set()
        super().close()


def test_client_hanging_up_prints_no_traceback(capsys):
    upstream = _BlockingUpstream()
    proxy = FaultProxy(upstream.server.server_address[:2])
    try:
        client = socket.create_connection(proxy.server.server_address[:2])
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ReceiveMessage"
                       b"\r\nContent-Length: 2\r\n\r\n{}")
        assert upstream.received.wait(5)
        # Close with RST (linger 0), as a killed process does: the proxy's answer then fails.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        upstream.release.set()
        wait_for(lambda: proxy.server.dropped == 1, what="the hang-up counted")
    finally:
        proxy.close()
        upstream.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
