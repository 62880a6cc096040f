"""Session fixtures: the provider import (~10 s) and the full synth happen once per run."""

from __future__ import annotations

import os
from pathlib import Path

# jsii's node process reads this at spawn: silence the Node 20 end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# No HashiCorp version-check calls from terraform or the cdktf CLI during tests.
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

import pytest  # noqa: E402

from tests.synth_helpers import SynthOutput  # noqa: E402

REPO_CDKTF_OUT = Path(__file__).resolve().parent.parent / "cdktf.out"


def _footprint(outdir: Path) -> dict[str, int]:
    """mtime of cdktf.out, its manifest, stacks/ and each stack dir: what any synth touches."""
    paths = [outdir, outdir / "manifest.json", outdir / "stacks"]
    if (outdir / "stacks").is_dir():
        paths += sorted((outdir / "stacks").iterdir())
    return {str(p): p.stat().st_mtime_ns for p in paths if p.exists()}


@pytest.fixture(autouse=True)
def _repo_cdktf_out_untouched(request: pytest.FixtureRequest):
    """A test that synthesizes without an outdir (`App()`) writes into the repo's cdktf.out."""
    before = _footprint(REPO_CDKTF_OUT)
    yield
    assert _footprint(REPO_CDKTF_OUT) == before, (
        f"{request.node.nodeid} wrote {REPO_CDKTF_OUT}: give its App an outdir "
        "(App(outdir=str(tmp_path)) or Testing.app())")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthOutput:
    """Every stack of every environment, synthesized by main.build_app exactly as `make synth`."""
    from main import build_app
    from settings.environments import select

    outdir = tmp_path_factory.mktemp("cdktf.out")
    build_app(select(), str(outdir)).synth()
    return SynthOutput(outdir)
