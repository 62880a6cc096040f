"""`python -m config_agent` as a child process, the way the bench and the demo run it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def spawn_agent(env: Mapping[str, str], log: IO[str]) -> subprocess.Popen[str]:
    """Start an agent with exactly `env` (plus PYTHONPATH: this checkout), logging to `log`:
    a file, not a pipe, since an unread pipe that fills up would stall the agent."""
    return subprocess.Popen(
        [sys.executable, "-m", "config_agent"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def stop_agents(procs: Iterable[subprocess.Popen[str]], timeout: float = 10) -> list[int | str]:
    """SIGTERM every running agent, then wait for each: exit codes ("killed" where one had to
    be killed after `timeout` seconds)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes: list[int | str] = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append("killed")
    return codes
