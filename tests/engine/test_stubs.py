"""engine/stubs.py: the type-checking stubs behind `engine.core` / `engine.aws.<name>`."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine import stubs


def test_only_engine_aws_submodule_imports_count():
    sources = [
        "from engine.aws.vpc import Vpc",
        "import engine.aws.subnet as subnet",
        "x = 'engine.aws.route_table'",  # a string naming one still wants its stub
        "from myengine.aws.fake import X",  # another package's `engine`
        "from engine.aws import provider",  # the package itself, no submodule named
        "from engine.core import App",
    ]
    assert stubs.used_submodules(sources) == {"vpc", "subnet", "route_table"}


def test_stubs_re_export_the_default_engines_modules(tmp_path: Path):
    wanted = stubs.wanted_stubs(tmp_path, {"vpc"})
    assert wanted == {
        tmp_path / "core.pyi": f"{stubs.HEADER}from cdktf import *\n",
        tmp_path / "aws" / "vpc.pyi": f"{stubs.HEADER}from cdktf_cdktf_provider_aws.vpc import *\n",
    }


def test_writing_adds_new_rewrites_changed_and_removes_stale_generated_stubs(tmp_path: Path):
    (tmp_path / "aws").mkdir()
    stale = tmp_path / "aws" / "gone.pyi"
    stale.write_text(stubs.HEADER + "old\n")
    edited = tmp_path / "aws" / "vpc.pyi"
    edited.write_text(stubs.HEADER + "from elsewhere import *\n")
    by_hand = tmp_path / "aws" / "hand.pyi"  # no HEADER: not ours to remove
    by_hand.write_text("x: int\n")
    wanted = stubs.wanted_stubs(tmp_path, {"vpc", "subnet"})

    touched = stubs.write_stubs(tmp_path, wanted)

    assert set(touched) == {stale, edited, tmp_path / "core.pyi", tmp_path / "aws" / "subnet.pyi"}
    assert not stale.exists() and by_hand.read_text() == "x: int\n"
    assert {p: p.read_text() for p in wanted} == wanted
    assert stubs.write_stubs(tmp_path, wanted) == []  # up to date: nothing rewritten


@pytest.mark.skipif(
    engine.selected().name != engine.DEFAULT_ENGINE,
    reason="make lint types against the default engine's bindings (.venv), not this venv's",
)
def test_every_submodule_the_code_imports_is_a_real_provider_submodule():
    """What `make lint` generates covers the repository's imports; a fake name gets no stub."""
    real = stubs.provider_submodules()
    used = stubs.used_submodules(p.read_text() for p in stubs.python_files())
    assert {"vpc", "ecs_service", "provider"} <= used & real
    assert "widget" in used - real  # tests/engine/test_loader.py's fake provider
