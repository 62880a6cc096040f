"""The Makefile names a missing prerequisite in one line instead of a shell or pip error."""

from __future__ import annotations

import os

from tests.processes import make, path_without


def test_venv_with_an_old_python_says_which_version_is_needed(tmp_path):
    old_python = tmp_path / "python3.9"
    old_python.write_text("#!/bin/sh\nexit 1\n")  # `sys.exit(version_info < (3, 11))` -> 1
    old_python.chmod(0o755)
    proc = make(f"VENV={tmp_path / 'venv'}", f"PYTHON={old_python}", "venv")
    assert proc.returncode != 0
    assert "missing prerequisite: Python 3.11+" in proc.stderr
    assert not (tmp_path / "venv").exists()


def test_node_deps_without_npm_says_node_is_needed():
    # -W: treat the lockfile as changed so the install recipe runs (it stops at the npm check).
    proc = make(
        "-W", "package-lock.json", "node-deps", env={**os.environ, "PATH": path_without("npm")}
    )
    assert proc.returncode != 0
    assert "missing prerequisite: Node.js 20+ with npm" in proc.stderr
    assert "npm ci" not in proc.stdout
