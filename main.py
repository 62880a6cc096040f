"""Synthesize every selected environment's stacks into cdktf.out.

Select environments with ECS_ENVS (comma-separated, e.g. `ECS_ENVS=dev`); all by default.
Needs no AWS credentials and no network. `cdktf synth` runs this file too (cdktf.json `app`)
and names the output directory through CDKTF_OUTDIR, which `App()` reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.core import App
    from settings.schema import EnvironmentSettings

STACKS_IN_DEPLOY_ORDER = ("network", "cluster", "config", "registry", "services")
"""Every stack kind `build_app` creates per env, each after the stacks it reads (a test checks)."""

CDKTF_CLI_VARIABLE = "CDKTF_CONTEXT_JSON"
"""Set by cdktf-cli when it runs this app (cdktf.json `app`). The CLI then deletes stale stack
directories itself, and fails (ENOENT) if the app already removed them."""

NODE_MIN_MAJOR = 20
"""cdktf 0.21 runs its core in Node.js through jsii; older majors are out of support."""


def build_app(envs: Sequence[EnvironmentSettings], outdir: str | None = None) -> App:
    """An App holding every stack of every env in `envs` (imports cdktf lazily)."""
    from engine.core import App
    from stacks.cluster import ClusterStack
    from stacks.config_pipeline import ConfigPipelineStack
    from stacks.network import NetworkStack
    from stacks.registry import RegistryStack
    from stacks.services import ServicesStack

    app = App(outdir=outdir) if outdir else App()
    for env in envs:
        network = NetworkStack(app, env)
        cluster = ClusterStack(app, env, network)
        pipeline = ConfigPipelineStack(app, env)
        registry = RegistryStack(app, env)
        ServicesStack(app, env, network, cluster, pipeline, registry)
    return app


def node_problem() -> str | None:
    """Why jsii could not start Node.js (missing or too old), else None; checked before cdktf."""
    node = shutil.which(os.environ.get("JSII_NODE", "node"))  # the binary jsii spawns
    if node is None:
        return (
            f"Node.js {NODE_MIN_MAJOR}+ not found on PATH; cdktf runs on it through jsii "
            "(install from https://nodejs.org)"
        )
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run {node} --version: {exc}"
    major = re.match(r"v(\d+)\.", version)
    if not major or int(major.group(1)) < NODE_MIN_MAJOR:
        return f"Node.js {NODE_MIN_MAJOR}+ needed by cdktf's jsii runtime; {node} is {version!r}"
    return None


CDKTF_STACK_FILES = ("cdk.tf.json",)
"""What a synth writes into a stack directory besides `assets/`: the only files pruning may
delete. `.terraform/`, `.terraform.lock.hcl`, saved plans and state belong to Terraform or the
user and stay."""


def prune_stale_stacks(outdir: str | Path) -> list[str]:
    """Remove what an earlier, wider synth wrote for stacks the fresh manifest does not name.

    Mirrors what `cdktf synth` does, so terraform, checkov and scripts see only this synth,
    but deletes only synth output: a stale stack directory holding anything else (an init,
    a lock file, a saved plan) keeps it, and the directory stays.
    """
    out = Path(outdir)
    manifest = json.loads((out / "manifest.json").read_text())
    keep = {Path(s["synthesizedStackPath"]).parent.name for s in manifest["stacks"].values()}
    stale = sorted(
        p
        for p in (out / "stacks").iterdir()
        if p.is_dir() and p.name not in keep and (p / "cdk.tf.json").exists()
    )
    for stack_dir in stale:
        for name in CDKTF_STACK_FILES:
            (stack_dir / name).unlink(missing_ok=True)
        shutil.rmtree(stack_dir / "assets", ignore_errors=True)
        if not any(stack_dir.iterdir()):
            stack_dir.rmdir()
    return [p.name for p in stale]


def load_table() -> tuple[EnvironmentSettings, ...]:
    """settings/environments.py's table (imported here, not at the top, so that a mistake in
    it is reported by `main`, not as an import traceback)."""
    from settings.environments import ENVIRONMENTS

    return ENVIRONMENTS


def main(table: tuple[EnvironmentSettings, ...] | None = None, outdir: str | None = None) -> int:
    """Validate the whole env table first (fast, one clear line), then synthesize the envs
    ECS_ENVS selects into `outdir` (cdktf.out, or CDKTF_OUTDIR under the cdktf CLI)."""
    from settings.construction import construction_problem

    try:
        table = load_table() if table is None else table
    except TypeError as exc:  # a misspelled or missing field of a settings dataclass
        message = construction_problem(exc)
        if message is None:
            raise
        print(f"invalid settings: {message}", file=sys.stderr)
        return 2
    from settings.environments import ENVS_VARIABLE, select
    from settings.validation import SettingsError

    try:
        envs = select(os.environ.get(ENVS_VARIABLE), table)
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    problem = node_problem()
    if problem:
        print(f"missing prerequisite: {problem}", file=sys.stderr)
        return 2
    app = build_app(envs, outdir)
    app.synth()
    stale = [] if CDKTF_CLI_VARIABLE in os.environ else prune_stale_stacks(app.outdir)
    if stale:
        print(f"removed stacks of an earlier synth: {', '.join(stale)}", file=sys.stderr)
    return 0


def run_and_exit_promptly() -> None:
    """`python main.py`: main(), then exit as soon as the output is flushed (engine.lifecycle)."""
    from engine.lifecycle import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    run_and_exit_promptly()
