"""Session fixtures: the provider import (~10 s) and the full synth happen once per run."""

from __future__ import annotations

import os

# jsii's node process reads this at spawn: silence the Node 20 end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest  # noqa: E402

from tests.synth_helpers import SynthOutput  # noqa: E402


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthOutput:
    """Every stack of every environment, synthesized by main.build_app exactly as `make synth`."""
    from main import build_app
    from settings.environments import select

    outdir = tmp_path_factory.mktemp("cdktf.out")
    build_app(select(), str(outdir)).synth()
    return SynthOutput(outdir)
