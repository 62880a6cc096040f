"""`make demo` works end to end: one event reaches the app in every task through its agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_the_secret_and_config_change_and_stops_cleanly():
    proc = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "reads the secret: {'task-a': 'hunter2-v1', 'task-b': 'hunter2-v1'}" in out
    assert "every task reads {'task-a': 'hunter2-v2', 'task-b': 'hunter2-v2'} after" in out
    assert (
        "every task reads {'task-a': '{\"greeting\": \"bonjour\"}', "
        "'task-b': '{\"greeting\": \"bonjour\"}'} after"
    ) in out
    assert "secret values in the agents' logs: none" in out
    assert "exit codes {'task-a': 0, 'task-b': 0}; agent queues kept for the orphan reaper" in out
