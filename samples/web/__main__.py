"""`python -m samples.web`: serve until SIGTERM/SIGINT, then finish requests in flight, exit 0."""

from __future__ import annotations

import logging
import sys
import threading

from samples.common import lifecycle, logs

from .server import WebServer
from .settings import WebSettings

LOG = logging.getLogger("samples.web")


def main() -> int:
    settings, stop = lifecycle.start(WebSettings.from_env, LOG)
    try:
        server = WebServer(settings)
    except OSError as err:  # e.g. the port is taken
        logs.log(LOG, logging.CRITICAL, "cannot listen", error=type(err).__name__, errno=err.errno)
        return 1
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logs.log(
        LOG, logging.INFO, "listening", port=server.server_address[1], secrets=len(settings.secrets)
    )
    lifecycle.wait(stop)
    server.shutdown()  # no new requests
    server.server_close()  # joins the requests in flight
    logs.log(LOG, logging.INFO, "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
