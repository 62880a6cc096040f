"""The real cdktf CLI (pinned in package-lock.json) synthesizes exactly what main.py does
(the session `table_synth` fixture: main.build_app over every env, byte for byte, manifest
included).

cdktf.json lists no `terraformProviders`: the project uses the prebuilt provider package, so
`cdktf synth` must not ask for `cdktf get` (cdktf-cli checks `codeMakerOutput` only when
providers or modules are listed). Not skipped when node_modules is missing: CI runs it.
"""

from __future__ import annotations

import json
import shutil

import pytest

import engine
from main import load_table
from tests.processes import ROOT, run_together, synth_env

CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"
QUIET_VARIABLE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
APP = f"env {QUIET_VARIABLE}=20 CHECKPOINT_DISABLE=1 .venv/bin/python main.py"
"""cdktf.json's app: quiet jsii (else one `[ERROR] b'!! ... end-of-life'` line per banner line)
and no version checks from the app's processes, whether or not the shell set them."""


FIRST = load_table()[0].name
"""cdktf.json's app is main.py: it synthesizes the user's table; `list` selects its first env."""


@pytest.fixture(scope="module")
def cli(table_synth, tmp_path_factory):
    """Side by side from the repo, each over an earlier full synth plus a stack directory the
    app no longer makes: `cdktf synth --output A` and `ECS_ENVS=dev cdktf list --output B`."""
    if engine.selected().name != engine.DEFAULT_ENGINE:
        pytest.skip("cdktf.json's app is .venv/bin/python main.py: the default engine's CLI")
    if not CDKTF.exists():
        pytest.fail(
            f"{CDKTF} is missing: run `npm ci` (make test does it first) to install "
            "the cdktf-cli pinned in package-lock.json",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("cdktf-cli")
    outdirs = {"synth": root / "synth.out", "list": root / "list.out"}
    for outdir in outdirs.values():
        shutil.copytree(table_synth.outdir, outdir)
        shutil.copytree(outdir / "stacks" / f"network-{FIRST}", outdir / "stacks" / "retired-x")
    # `list` runs as from a plain shell: cdktf.json's app command must silence jsii itself.
    plain = {k: v for k, v in synth_env(ECS_ENVS=FIRST).items() if k != QUIET_VARIABLE}
    envs = {"synth": synth_env(), "list": plain}
    results = run_together(
        {
            verb: ([str(CDKTF), verb, "--output", str(outdir)], {"cwd": ROOT, "env": envs[verb]})
            for verb, outdir in outdirs.items()
        }
    )
    return outdirs, results


def _files(outdir):
    return sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*") if p.is_file())


def test_cdktf_synth_writes_the_same_stacks_as_main_py(cli, table_synth):
    synth = table_synth
    outdirs, results = cli
    proc = results["synth"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cdktf get" not in proc.stdout + proc.stderr
    out = outdirs["synth"]
    assert sorted(p.name for p in (out / "stacks").iterdir()) == synth.stack_names
    assert _files(out) == _files(synth.outdir)
    for name in _files(synth.outdir):
        assert (out / name).read_bytes() == (synth.outdir / name).read_bytes(), name


def test_cdktf_list_passes_the_env_selection_to_the_app(cli, table_synth):
    synth = table_synth
    outdirs, results = cli
    proc = results["list"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout.split("Stack name", 1)[-1].splitlines()[1:]
    # One row per stack; a long output path may wrap onto indented continuation lines.
    listed = [row.split()[0] for row in table if row[:1].strip()]
    dev = [name for name in synth.stack_names if name.endswith(f"-{FIRST}")]
    assert sorted(listed) == dev, proc.stdout
    assert sorted(p.name for p in (outdirs["list"] / "stacks").iterdir()) == dev
    assert "end-of-life" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_cdktf_json_asks_for_no_generated_bindings():
    """Listing a provider here makes cdktf-cli 0.21 demand `cdktf get` (which needs network)."""
    config = json.loads((ROOT / "cdktf.json").read_text())
    assert config["app"] == APP
    assert not config.get("terraformProviders") and not config.get("terraformModules")


def test_cdktf_cli_is_pinned_exactly_by_package_json_and_its_lockfile():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["dependencies"]["cdktf-cli"] == "0.21.0"
    assert lock["packages"]["node_modules/cdktf-cli"]["version"] == "0.21.0"
    pins = engine.ENGINES[engine.DEFAULT_ENGINE].pins()  # the CLI drives the default engine
    assert pins["cdktf"] == "0.21.0", "library and CLI must share the minor version"
