"""The real terraform CLI and the hashicorp/aws that `make provider` built, for tests that have
the provider read synthesized stacks (`terraform init -backend=false` + `validate`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import go_tools
from settings.providers import AWS_PROVIDER_VERSION
from tests.processes import ROOT


def built_provider() -> list[Path]:
    """The provider binaries in the cache mirror at the pinned version (empty before a build)."""
    provider = go_tools.mirror_dir() / "registry.terraform.io" / "hashicorp" / "aws"
    return sorted((provider / AWS_PROVIDER_VERSION).glob("*/terraform-provider-aws_v*"))


needs_real_provider = pytest.mark.skipif(
    shutil.which("terraform") is None or not built_provider(),
    reason="no real terraform, or no `make provider` build in the cache (CI builds it: .ci/run)",
)


def validate(synth_outdir: Path, names: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`scripts/terraform_stacks.py validate` over a copy of just these stacks of a synth."""
    outdir = tmp_path / "cdktf.out"
    for name in names:
        shutil.copytree(synth_outdir / "stacks" / name, outdir / "stacks" / name)
    stacks = {name: {"synthesizedStackPath": f"stacks/{name}/cdk.tf.json"} for name in names}
    (outdir / "manifest.json").write_text(json.dumps({"stacks": stacks}))
    config = str(go_tools.write_cli_config())
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "terraform_stacks.py"),
            "validate",
            str(outdir),
            "--cli-config",
            config,
        ],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=1200,
    )
