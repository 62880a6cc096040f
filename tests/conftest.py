"""Session fixtures: each full synth happens once per run, in a child process started
as soon as the tests are collected."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# jsii's node process reads this at spawn: silence the Node 20 end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# No HashiCorp version-check calls from terraform or the cdktf CLI during tests.
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

import pytest

import engine
from tests.synth_helpers import BackgroundSynth, SynthOutput

ROOT = Path(__file__).resolve().parent.parent
_synths: dict[str, BackgroundSynth] = {}


def _other_engine() -> tuple[str, Path]:
    name = next(n for n in engine.ENGINES if n != engine.selected().name)
    return name, ROOT / engine.ENGINES[name].venv / "bin" / "python"


SAMPLE_TABLE = "tests.tables:SAMPLE"
"""The behaviour tests' own table (`synth`, `plain_synth`, `other_engine_synth`)."""


def _user_table_is_the_sample() -> bool:
    """True while settings/environments.py holds the sample table: one synth serves both."""
    from main import load_table
    from tests.tables import SAMPLE

    try:
        return load_table() == SAMPLE
    except Exception:  # noqa: BLE001  (a broken user table gets its own synth and its error)
        return False


def _start(fixture: str) -> BackgroundSynth:
    """The synth child process behind a session fixture, started once."""
    if fixture == "table_synth" and _user_table_is_the_sample():
        fixture = "synth"
    if fixture not in _synths:
        outdir = Path(tempfile.mkdtemp(prefix=f"{fixture}-"))
        if fixture == "table_synth":
            _synths[fixture] = BackgroundSynth(outdir)
        elif fixture == "synth":
            _synths[fixture] = BackgroundSynth(outdir, table=SAMPLE_TABLE)
        elif fixture == "plain_synth":
            _synths[fixture] = BackgroundSynth(outdir, plain=True, table=SAMPLE_TABLE)
        else:
            name, python = _other_engine()
            _synths[fixture] = BackgroundSynth(
                outdir, engine=name, python=str(python), table=SAMPLE_TABLE
            )
    return _synths[fixture]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start every synth the selected tests need at once: they run while other tests do."""
    wanted = {f for item in session.items for f in getattr(item, "fixturenames", ())}
    for fixture in ("synth", "table_synth", "plain_synth", "other_engine_synth"):
        if fixture in wanted and (fixture != "other_engine_synth" or _other_engine()[1].exists()):
            _start(fixture)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for started in _synths.values():
        started.stop()
        shutil.rmtree(started.outdir, ignore_errors=True)


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
        "(App(outdir=str(tmp_path)) or Testing.app())"
    )


@pytest.fixture(scope="session")
def synth() -> SynthOutput:
    """Every stack of every env of the behaviour tests' table (tests/tables.py), written by
    main.main as `make synth` writes the user's."""
    return _start("synth").result()


@pytest.fixture(scope="session")
def table_synth() -> SynthOutput:
    """Every stack of every env of the user's table (settings/environments.py), written by
    `python main.py` exactly as `make synth`: what the invariant tests check."""
    return _start("table_synth").result()


@pytest.fixture(scope="session")
def plain_synth() -> SynthOutput:
    """The same through the plain path (ECS_ENGINE_PLAIN=1): the byte-for-byte reference."""
    return _start("plain_synth").result()


@pytest.fixture(scope="session")
def other_engine_synth() -> SynthOutput:
    """The same, synthesized by the engine that is not running, with its own venv."""
    name, python = _other_engine()
    if not python.exists():
        message = f"{python} is missing: `make venv ENGINE={name}` builds it"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI builds both venvs: a missing one is a broken setup
        pytest.skip(message)
    return _start("other_engine_synth").result()
