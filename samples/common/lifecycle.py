"""SIGTERM/SIGINT handling shared by both samples: a signal only sets an event."""

from __future__ import annotations

import logging
import signal
import threading

from .logs import log


def stop_on_signals(logger: logging.Logger) -> threading.Event:
    """An event set (and logged) on SIGTERM or SIGINT; the main thread decides what to stop."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log(logger, logging.INFO, "signal received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
