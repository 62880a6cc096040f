"""`python -m samples.web`: serve until SIGTERM/SIGINT, then finish requests in flight, exit 0."""

from __future__ import annotations

import logging
import os
import sys
import threading

from samples.common import logs
from samples.common.lifecycle import stop_on_signals
from samples.common.settings import SettingsError

from .server import WebServer
from .settings import WebSettings

LOG = logging.getLogger("samples.web")


def main() -> int:
    try:
        settings = WebSettings.from_env(os.environ)
    except SettingsError as err:
        logs.setup()
        logs.log(LOG, logging.CRITICAL, "invalid settings", error=str(err))
        return 2
    logs.setup(settings.log_level)
    stop = stop_on_signals(LOG)
    try:
        server = WebServer(settings)
    except OSError as err:  # e.g. the port is taken
        logs.log(LOG, logging.CRITICAL, "cannot listen", error=type(err).__name__,
                 errno=err.errno)
        return 1
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logs.log(LOG, logging.INFO, "listening", port=server.server_address[1],
             secrets=len(settings.secrets))
    while not stop.wait(3600):
        pass
    server.shutdown()      # no new requests
    server.server_close()  # joins the requests in flight
    logs.log(LOG, logging.INFO, "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
