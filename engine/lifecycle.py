"""End a synth process as soon as its output is on disk, skipping the interpreter's teardown.

Freeing the provider's generated modules at interpreter exit takes seconds and does nothing
useful. exit_now() does what a normal exit does that matters (atexit handlers, which stop the
jsii node process cleanly and remove its temporary files; flushing stdout/stderr) and then
ends the process with os._exit, which skips only the module teardown.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from engine import EngineError, plain


def run_and_exit(entry: Callable[[], int | None]) -> NoReturn:
    """Run entry() and exit promptly with its status; an exception prints and exits 1.

    A wrong engine setup (EngineError) is a one-line error and exit status 2, as for bad
    settings: the message says what to do, a traceback would only bury it.
    """
    status: int | str | None
    try:
        status = entry()
    except SystemExit as exc:
        status = exc.code
    except EngineError as exc:
        print(exc, file=sys.stderr)  # noqa: T201  (the one-line error is this CLI's output)
        status = 2
    except KeyboardInterrupt:
        traceback.print_exc()
        status = 130
    except BaseException:  # noqa: BLE001  (printed, and the exit status says it failed)
        traceback.print_exc()
        status = 1
    exit_now(status)


def exit_now(status: int | str | None = 0) -> NoReturn:
    """sys.exit(status) semantics, without the teardown (a plain exit if ECS_ENGINE_PLAIN=1)."""
    if plain():
        sys.exit(status)
    code = exit_code(status)
    try:
        atexit._run_exitfuncs()  # jsii registers its kernel's clean stop here
    finally:
        _flush()
        os._exit(code)


def exit_code(status: int | str | None) -> int:
    """What the interpreter would exit with for SystemExit(status); prints a message status."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)  # noqa: T201  (as the interpreter prints SystemExit("..."))
    return 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        # A closed or replaced stream: nothing left that could be flushed.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
