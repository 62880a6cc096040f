"""`make demo` works end to end: the change reaches the app through the agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_the_secret_and_config_change_and_stops_cleanly():
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "the app reads the secret: 'hunter2-v1'" in out
    assert "the app reads 'hunter2-v2' after" in out
    assert "the app reads b'{\"greeting\": \"bonjour\"}' after" in out
    assert "secret values in the agent's log: none" in out
    assert "agent stopped on SIGTERM with exit code 0" in out
