"""A sample as a subprocess: its JSON log lines collected on a thread, stopped by SIGTERM."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools.wait import wait_for

STUB_TOKEN = "tok-5ecret"
AGENT_STUB_ENV = {
    "CONFIG_AGENT_TOKEN": STUB_TOKEN,
    "APPCONFIG_APPLICATION_ID": "a",
    "APPCONFIG_ENVIRONMENT_ID": "e",
    "APPCONFIG_PROFILE_ID": "p",
}
"""Valid agent variables for runs that never reach an agent (settings errors, agent down)."""


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def records(self, msg: str | None = None) -> list[dict[str, Any]]:
        """Parsed log lines (every line must be one JSON object), optionally one `msg` only."""
        docs = [json.loads(line) for line in list(self.lines)]
        return [d for d in docs if msg is None or d.get("msg") == msg]

    def wait_record(self, msg: str, timeout: float = 15.0, count: int = 1) -> list[dict]:
        """Wait until at least `count` lines with this `msg` were logged."""
        return wait_for(
            lambda: len(self.records(msg)) >= count and self.records(msg),
            timeout=timeout,
            what=f"{count} log line(s) {msg!r}",
        )

    def sigterm(self, timeout: float = 15.0) -> int:
        """SIGTERM, as ECS sends it; the exit code."""
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=timeout)
        self._pump_thread.join(timeout)  # ends at EOF: every line is collected
        return code

    def reap(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


@contextlib.contextmanager
def refused_agent_url() -> Iterator[str]:
    """An agent URL whose port refuses connections (bound, never listening) while in use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def assert_invalid_settings(result: subprocess.CompletedProcess[str], variable: str) -> None:
    """Exit 2 with exactly one log line that names the variable and never echoes the token."""
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    doc = json.loads(line)
    assert doc["msg"] == "invalid settings" and variable in doc["error"]
    assert STUB_TOKEN not in line
