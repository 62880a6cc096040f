"""Run the slow synth subprocesses (main.py, the cdktf CLI) side by side and collect them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 900
"""Generous: each run imports the provider (~12 s alone) on a 2-core box shared with others."""

_SELECTION_VARIABLES = ("ECS_ENVS", "CDKTF_OUTDIR", "CDKTF_CONTEXT_JSON", "JSII_NODE")


def synth_env(**overrides: str) -> dict[str, str]:
    """os.environ without inherited synth selections, quiet node/terraform, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in _SELECTION_VARIABLES}
    env.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CHECKPOINT_DISABLE="1",
        FORCE_COLOR="0",
        CI="1",
    )
    env.update(overrides)
    return env


def run_together(
    jobs: Mapping[str, tuple[Sequence[str], Mapping]],
) -> dict[str, subprocess.CompletedProcess]:
    """Start every job (`name: (argv, Popen kwargs)`) at once, then wait for each."""
    started = {
        name: (
            argv,
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
            ),
        )
        for name, (argv, kwargs) in jobs.items()
    }
    done = {}
    try:
        for name, (argv, proc) in started.items():
            out, err = proc.communicate(timeout=TIMEOUT_S)
            done[name] = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    finally:
        for _, proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def path_without(tool: str) -> str:
    """PATH minus every directory that holds `tool` (the rest, e.g. make, stays reachable)."""
    return os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / tool).exists()
    )


def make(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """make in the repo, treating the venv as installed (the test suite runs inside it)."""
    env = {
        k: v
        for k, v in (env or os.environ).items()
        if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    return subprocess.run(
        [shutil.which("make") or "make", "-C", str(ROOT), "-o", ".venv/.installed", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
