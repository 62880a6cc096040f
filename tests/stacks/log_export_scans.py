"""Checkov and the IAM lint over a few synthesized stacks: shared by the log-export tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from scripts import checkov_scan
from tests.synth_helpers import SynthOutput

ROOT = Path(__file__).resolve().parent.parent.parent


def copy_stacks(synth: SynthOutput, names: Iterable[str], tmp_path: Path) -> Path:
    """A stacks/ directory holding only the named stacks (the scans read whole directories)."""
    stacks = tmp_path / "stacks"
    for name in names:
        shutil.copytree(synth.outdir / "stacks" / name, stacks / name)
    return stacks


def assert_checkov_clean(stacks: Path) -> None:
    """No failed check, no stale skip, and every skip gives a reason."""
    result = checkov_scan.scan(stacks)
    assert result.failed == [], "\n".join(f"{c} {s} {r}" for s, r, c in result.failed)
    assert result.stale == []
    assert all(reason.strip() for *_, reason in result.skipped)


def assert_iam_lint_clean(stacks: Path) -> None:
    """Every action exists and is scoped only where IAM allows (scripts/iam_lint.py)."""
    proc = subprocess.run(
        [
            str(ROOT / ".venv-scan" / "bin" / "python"),
            str(ROOT / "scripts" / "iam_lint.py"),
            str(stacks),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["findings"] == []
