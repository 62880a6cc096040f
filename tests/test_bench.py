"""`make bench` leaves the work tree clean: its copy of the figures is untracked and ignored."""

from __future__ import annotations

import re
import subprocess

from tests.processes import ROOT, make


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


def test_make_bench_writes_only_an_ignored_untracked_file():
    dry_run = make("-n", "bench").stdout
    written = re.findall(r"\btee\s+(\S+)", dry_run) + re.findall(r">\s*(\S+)", dry_run)
    assert written, f"make bench writes no copy of its figures?\n{dry_run}"
    for path in written:
        assert _git("check-ignore", "-q", path).returncode == 0, f"{path} is not git-ignored"
        assert _git("ls-files", "--error-unmatch", path).returncode != 0, f"{path} is tracked"
