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
from tests.synth_helpers import TABLE_SYNTH

MAIN = str(ROOT / "main.py")
DEV_STACKS = [f"{kind}-dev" for kind in sorted(STACKS_IN_DEPLOY_ORDER)]


def _run_main(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MAIN],
        cwd=tmp_path,
        env=synth_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


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
                f"{name} reads {dependency}, which STACKS_IN_DEPLOY_ORDER lists later"
            )


LEFTOVERS = (".terraform/providers/x", ".terraform.lock.hcl", "tfplan", "prod.plan")
"""What `terraform init`/`plan -out` or a user leave in a stack directory."""


def _terraform_leftovers(stack_dir: Path) -> None:
    for name in LEFTOVERS:
        (stack_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (stack_dir / name).write_text(name)


@pytest.fixture(scope="module")
def narrowed(synth, tmp_path_factory):
    """`ECS_ENVS=dev` synth over a full earlier synth, both ways main.py finds its outdir:
    ./cdktf.out (make synth) and CDKTF_OUTDIR (how `cdktf synth` passes --output)."""
    root = tmp_path_factory.mktemp("narrowed")
    outdirs = {"cwd": root / "cwd" / "cdktf.out", "CDKTF_OUTDIR": root / "env-out"}
    for outdir in outdirs.values():
        shutil.copytree(synth.outdir, outdir)
        (outdir / "stacks" / "network-dev" / ".terraform").mkdir()  # a kept stack's init state
        for name in ("network-prod", "services-staging"):  # Terraform's and the user's files
            _terraform_leftovers(outdir / "stacks" / name)
    # main.main over the behaviour tests' table (what `synth` holds), as `python main.py` runs
    sample = [sys.executable, "-c", TABLE_SYNTH.format("tests.tables", "SAMPLE")]
    path = {"PYTHONPATH": str(ROOT)}
    jobs = {
        "cwd": (sample, {"cwd": outdirs["cwd"].parent, "env": synth_env(ECS_ENVS="dev", **path)}),
        "CDKTF_OUTDIR": (
            sample,
            {
                "cwd": root,
                "env": synth_env(ECS_ENVS="dev", CDKTF_OUTDIR=str(outdirs["CDKTF_OUTDIR"]), **path),
            },
        ),
    }
    return outdirs, run_together(jobs)


@pytest.mark.parametrize("way", ["cwd", "CDKTF_OUTDIR"])
def test_narrower_synth_leaves_exactly_the_selected_stacks(way, narrowed, synth):
    outdirs, results = narrowed
    outdir, proc = outdirs[way], results[way]
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.parent.name for p in (outdir / "stacks").glob("*/cdk.tf.json")) == DEV_STACKS
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    assert sorted(manifest) == DEV_STACKS
    assert all((outdir / s["synthesizedStackPath"]).is_file() for s in manifest.values())
    for name in DEV_STACKS:
        assert (outdir / "stacks" / name / "cdk.tf.json").read_bytes() == (
            synth.outdir / "stacks" / name / "cdk.tf.json"
        ).read_bytes(), name
    assert (outdir / "stacks" / "network-dev" / ".terraform").is_dir()
    stale = sorted(set(synth.stack_names) - set(DEV_STACKS))
    assert proc.stderr.strip().splitlines()[-1] == (
        f"removed stacks of an earlier synth: {', '.join(stale)}"
    )


@pytest.mark.parametrize("way", ["cwd", "CDKTF_OUTDIR"])
def test_narrower_synth_keeps_what_terraform_and_the_user_put_in_other_stacks(way, narrowed):
    """Issue 21: `ECS_ENVS=dev make synth` deleted prod's .terraform/, lock file and plans."""
    outdirs, results = narrowed
    assert results[way].returncode == 0, results[way].stderr
    for name in ("network-prod", "services-staging"):
        stack_dir = outdirs[way] / "stacks" / name
        assert not (stack_dir / "cdk.tf.json").exists(), name
        for leftover in LEFTOVERS:
            assert (stack_dir / leftover).read_text() == leftover, (name, leftover)
    assert not (outdirs[way] / "stacks" / "cluster-prod").exists(), "only synth output: gone"


def test_a_misspelled_field_is_one_line_naming_file_field_and_valid_names(monkeypatch, capsys):
    """Issue 21: `healthcheck_path=` ended in a TypeError traceback."""
    import main

    source = "from settings.services import WEB\nTABLE = (WEB.with_(healthcheck_path='/'),)\n"
    code = compile(source, str(ROOT / "settings" / "environments.py"), "exec")

    def broken_table():
        exec(code, {})

    monkeypatch.setattr(main, "load_table", broken_table)
    assert main.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "invalid settings: settings/environments.py:2: ServiceSpec has no field "
        "'healthcheck_path' (did you mean 'health_check_path'?); its fields: name, cpu, "
    ), err


def test_a_missing_field_is_one_line_too():
    from settings.construction import construction_problem
    from settings.schema import S3State

    with pytest.raises(TypeError) as err:
        S3State(bucket="b")  # type: ignore[call-arg]
    assert (
        construction_problem(err.value)
        == "S3State needs 'region' (its fields: bucket, region, key_prefix)"
    )
    assert construction_problem(TypeError("unsupported operand")) is None
