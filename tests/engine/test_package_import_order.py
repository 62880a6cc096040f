"""A construct or stack module imported first, on its own, works: `constructs` (sorted before
`engine` as a third-party import) starts the jsii kernel, which must come after engine.core,
so the `modules` and `stacks` packages import engine.core before any of their modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import ROOT


@pytest.mark.parametrize("module", ["modules.kms_key", "stacks.network"])
def test_a_module_imported_first_in_a_fresh_interpreter_works(module):
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
