"""main.py: a missing prerequisite is one line, and synth leaves exactly the selected stacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from main import STACKS_IN_DEPLOY_ORDER
from tests.processes import ROOT, run_together, synth_env

MAIN = str(ROOT / "main.py")
DEV_STACKS = [f"{kind}-dev" for kind in sorted(STACKS_IN_DEPLOY_ORDER)]


def _run_main(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, MAIN], cwd=tmp_path, env=synth_env(**env),
                          capture_output=True, text=True, timeout=120)


def _assert_one_line_exit_2(proc: subprocess.CompletedProcess, *expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and all(e in lines[0] for e in expected), proc.stderr


def test_without_node_main_prints_one_line_and_exits_2(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    proc = _run_main(tmp_path, PATH=str(empty_bin))
    _assert_one_line_exit_2(proc, "missing prerequisite: Node.js 20+ not found on PATH")
    assert not (tmp_path / "cdktf.out").exists()


def test_with_an_old_node_main_prints_one_line_and_exits_2(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    node = fake_bin / "node"
    node.write_text("#!/bin/sh\necho v18.20.4\n")
    node.chmod(0o755)
    proc = _run_main(tmp_path, PATH=str(fake_bin))
    _assert_one_line_exit_2(proc, "Node.js 20+ needed", "v18.20.4")


def test_stack_kinds_are_listed_in_dependency_order(synth):
    """make plan checks STACK against STACKS_IN_DEPLOY_ORDER; README deploys in this order."""
    manifest = json.loads((synth.outdir / "manifest.json").read_text())["stacks"]
    assert {name.rsplit("-", 1)[0] for name in manifest} == set(STACKS_IN_DEPLOY_ORDER)
    position = {kind: i for i, kind in enumerate(STACKS_IN_DEPLOY_ORDER)}
    for name, stack in manifest.items():
        for dependency in stack["dependencies"]:
            assert position[dependency.rsplit("-", 1)[0]] < position[name.rsplit("-", 1)[0]], (
                f"{name} reads {dependency}, which STACKS_IN_DEPLOY_ORDER lists later")


@pytest.fixture(scope="module")
def narrowed(synth, tmp_path_factory):
    """`ECS_ENVS=dev` synth over a full earlier synth, both ways main.py finds its outdir:
    ./cdktf.out (make synth) and CDKTF_OUTDIR (how `cdktf synth` passes --output)."""
    root = tmp_path_factory.mktemp("narrowed")
    outdirs = {"cwd": root / "cwd" / "cdktf.out", "CDKTF_OUTDIR": root / "env-out"}
    for outdir in outdirs.values():
        shutil.copytree(synth.outdir, outdir)
        (outdir / "stacks" / "network-dev" / ".terraform").mkdir()  # a kept stack's init state
    jobs = {
        "cwd": ([sys.executable, MAIN],
                {"cwd": outdirs["cwd"].parent, "env": synth_env(ECS_ENVS="dev")}),
        "CDKTF_OUTDIR": ([sys.executable, MAIN],
                         {"cwd": root, "env": synth_env(ECS_ENVS="dev",
                                                        CDKTF_OUTDIR=str(outdirs["CDKTF_OUTDIR"]))}),
    }
    return outdirs, run_together(jobs)


@pytest.mark.parametrize("way", ["cwd", "CDKTF_OUTDIR"])
def test_narrower_synth_leaves_exactly_the_selected_stacks(way, narrowed, synth):
    outdirs, results = narrowed
    outdir, proc = outdirs[way], results[way]
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (outdir / "stacks").iterdir()) == DEV_STACKS
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    assert sorted(manifest) == DEV_STACKS
    assert all((outdir / s["synthesizedStackPath"]).is_file() for s in manifest.values())
    for name in DEV_STACKS:
        assert ((outdir / "stacks" / name / "cdk.tf.json").read_bytes()
                == (synth.outdir / "stacks" / name / "cdk.tf.json").read_bytes()), name
    assert (outdir / "stacks" / "network-dev" / ".terraform").is_dir()
    stale = sorted(set(synth.stack_names) - set(DEV_STACKS))
    assert proc.stderr.strip().splitlines()[-1] == (
        f"removed stacks of an earlier synth: {', '.join(stale)}")
