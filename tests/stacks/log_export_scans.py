"""What the log-export tests share: their tables (one env per export shape), one synth of them,
and checkov and the IAM lint over a few of its stacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from scripts import checkov_scan
from settings.log_export import OpenSearchLogExport
from settings.schema import EnvironmentSettings
from settings.validation import validate
from tests.synth_helpers import SynthOutput

ROOT = Path(__file__).resolve().parent.parent.parent


def shape_env(
    base: EnvironmentSettings, name: str, export: OpenSearchLogExport, exporting: set[str]
) -> EnvironmentSettings:
    """`base` renamed `name`, exporting to `export`, the services named in `exporting` opted in."""
    services = tuple(s.with_(export_logs=s.name in exporting) for s in base.services)
    settings = replace(base.services_settings, log_export=export)
    return validate(replace(base, name=name, services=services, services_settings=settings))


def synth_shapes(
    base: EnvironmentSettings,
    shapes: Mapping[str, OpenSearchLogExport],
    exporting: Mapping[str, set[str]],
    outdir: Path,
) -> SynthOutput:
    """Every shape as an env of its own, synthesized by main.build_app into one output."""
    from main import build_app

    envs = [shape_env(base, name, shapes[name], exporting[name]) for name in shapes]
    build_app(envs, str(outdir)).synth()
    return SynthOutput(outdir)


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
