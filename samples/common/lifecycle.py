"""Startup and shutdown shared by both samples: settings, logs, signals."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from . import logs
from .settings import SettingsError


class _HasLogLevel(Protocol):
    @property  # read-only, so that frozen dataclasses match
    def log_level(self) -> str: ...


S = TypeVar("S", bound=_HasLogLevel)


def start(
    parse: Callable[[Mapping[str, str]], S], logger: logging.Logger
) -> tuple[S, threading.Event]:
    """Parse the settings (bad ones: one log line, exit 2), set up logs, catch SIGTERM/SIGINT.

    Returns the settings and an event a signal sets; the main thread decides what to stop.
    """
    try:
        settings = parse(os.environ)
    except SettingsError as err:
        logs.setup()
        logs.log(logger, logging.CRITICAL, "invalid settings", error=str(err))
        raise SystemExit(2) from None
    logs.setup(settings.log_level)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logs.log(logger, logging.INFO, "signal received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return settings, stop


def wait(stop: threading.Event) -> None:
    """Block until `stop` is set (in slices: a bare wait() may not wake for a signal)."""
    while not stop.wait(3600):
        pass
