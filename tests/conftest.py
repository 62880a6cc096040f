"""Session fixtures: the full synth happens once per run, in a child process."""

from __future__ import annotations

import os

# jsii's node process reads this at spawn: silence the Node 20 end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest  # noqa: E402

from tests.synth_helpers import SynthOutput, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthOutput:
    """Every stack of every environment, written by `python main.py` exactly as `make synth`."""
    return synthesize(tmp_path_factory.mktemp("cdktf.out"))
