"""make plan / make validate: argument and tool checks first, one line per failure, no silent pass.

terraform and the aws provider are usually unavailable here, so a fake `terraform` (a script
on PATH) stands in: one that fails init the way a missing provider does, and one that succeeds
and records its calls. When a real terraform is installed, it is also checked against an
empty filesystem mirror (hermetic: no registry call).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from main import STACKS_IN_DEPLOY_ORDER
from scripts import go_tools
from settings.providers import AWS_PROVIDER_VERSION
from tests import real_provider
from tests.processes import ROOT, make, path_without
from tests.real_provider import needs_real_provider

SCRIPT = str(ROOT / "scripts" / "terraform_stacks.py")

FAKE_TERRAFORM = """#!{python}
import json, os, sys
args = [a for a in sys.argv[1:] if not a.startswith("-chdir=")]
chdir = next((a[len("-chdir="):] for a in sys.argv[1:] if a.startswith("-chdir=")), ".")
with open(os.environ["FAKE_TF_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(chdir)] + args) + "\\n")
mode = os.environ.get("FAKE_TF_MODE", "ok")
if args[0] == "version":
    print(json.dumps({{"terraform_version": os.environ.get("FAKE_TF_VERSION", "1.11.4")}}))
elif args[0] == "init" and mode == "no-provider":
    sys.stderr.write(
        "Initializing provider plugins...\\n"
        "- Finding hashicorp/aws versions matching \\"{version}\\"...\\n\\n"
        "Error: Failed to query available provider packages\\n\\n"
        "Could not retrieve the list of available versions for provider hashicorp/aws:\\n"
        "could not connect to registry.terraform.io: failed to request discovery\\n"
        "document: dial tcp: lookup registry.terraform.io: no such host\\n\\n")
    sys.exit(1)
elif args[0] == "init":
    print("Terraform has been successfully initialized!")
elif args[0] == "validate":
    bad = mode == "invalid" and os.path.basename(chdir) == "services-dev"
    diagnostics = [{{"severity": "error", "summary": "Unsupported argument",
                    "detail": "An argument named \\"bogus\\" is not expected here."}}]
    diagnostics = diagnostics if bad else []
    print(json.dumps({{"valid": not bad, "error_count": len(diagnostics),
                      "diagnostics": diagnostics}}))
    sys.exit(1 if bad else 0)
"""


@pytest.fixture
def fake_terraform(tmp_path):
    """env for a run with the fake terraform first on PATH; its call log at env["FAKE_TF_LOG"]."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    exe = bin_dir / "terraform"
    exe.write_text(FAKE_TERRAFORM.format(python=sys.executable, version=AWS_PROVIDER_VERSION))
    exe.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{path_without('terraform')}",
        "FAKE_TF_LOG": str(tmp_path / "terraform-calls.jsonl"),
    }


def _calls(env: dict) -> list[list[str]]:
    log = Path(env["FAKE_TF_LOG"])
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _script(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, SCRIPT, *args], env=env, capture_output=True, text=True, timeout=1200
    )


def _one_line(proc: subprocess.CompletedProcess, code: int, *expected: str) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert all(e in lines[0] for e in expected), lines[0]
    return lines[0]


def test_validate_without_terraform_says_so_in_one_line(synth, tmp_path):
    env = {**os.environ, "PATH": path_without("terraform"), "ECS_CDKTF_CACHE": str(tmp_path)}
    _one_line(
        _script("validate", str(synth.outdir), env=env),
        2,
        "terraform not found on PATH",
        "Terraform >= 1.10",
    )


def test_validate_refuses_a_terraform_without_s3_lockfile_support(synth, fake_terraform):
    env = {**fake_terraform, "FAKE_TF_VERSION": "1.9.8"}
    _one_line(_script("validate", str(synth.outdir), env=env), 2, "Terraform >= 1.10", "1.9.8")
    assert _calls(env) == [[".", "version", "-json"]]


def test_validate_without_the_provider_fails_in_one_line(synth, fake_terraform):
    env = {**fake_terraform, "FAKE_TF_MODE": "no-provider"}
    line = _one_line(
        _script("validate", str(synth.outdir), env=env),
        1,
        f"no hashicorp/aws {AWS_PROVIDER_VERSION} provider",
        "filesystem_mirror",
        "TF_PLUGIN_CACHE_DIR",
        "could not connect to registry.terraform.io",
    )
    first_stack = _calls(env)[1][0]
    assert f"provider for {first_stack}:" in line
    assert [c[1] for c in _calls(env)] == ["version", "init"], "went on after a failed init"


def test_validate_runs_init_without_backend_then_validate_in_every_stack(synth, fake_terraform):
    proc = _script("validate", str(synth.outdir), env=fake_terraform)
    assert proc.returncode == 0, proc.stderr
    expected = []
    for name in synth.stack_names:
        expected += [
            [name, "init", "-backend=false", "-input=false", "-no-color"],
            [name, "validate", "-json", "-no-color"],
        ]
    assert sorted(_calls(fake_terraform)[1:]) == sorted(expected)
    assert (
        proc.stdout.splitlines()[-1]
        == f"terraform 1.11.4: all {len(synth.stack_names)} stacks valid"
    )


def test_validate_reports_each_invalid_stack_and_fails(synth, fake_terraform):
    env = {**fake_terraform, "FAKE_TF_MODE": "invalid"}
    proc = _script("validate", str(synth.outdir), env=env)
    assert proc.returncode == 1
    assert "services-dev: error: Unsupported argument" in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"make validate: 1 of {len(synth.stack_names)} stacks invalid: services-dev"
    )
    assert len(_calls(env)) == 1 + 2 * len(synth.stack_names), "stopped before the last stack"


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no real terraform installed")
def test_real_terraform_with_an_empty_filesystem_mirror_fails_in_one_line(synth, tmp_path):
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(synth.outdir / "stacks" / "network-dev", outdir / "stacks" / "network-dev")
    (outdir / "manifest.json").write_text(
        json.dumps(
            {"stacks": {"network-dev": {"synthesizedStackPath": "stacks/network-dev/cdk.tf.json"}}}
        )
    )
    (tmp_path / "mirror").mkdir()
    config = tmp_path / "terraform.rc"
    config.write_text(
        f"provider_installation {{\n  filesystem_mirror {{\n"
        f'    path = "{tmp_path / "mirror"}"\n  }}\n}}\n'
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config)}
    _one_line(
        _script("validate", str(outdir), env=env),
        1,
        f"no hashicorp/aws {AWS_PROVIDER_VERSION} provider for network-dev",
        "not found in any of the search locations",
    )


@pytest.mark.parametrize(("stack", "env_name"), [("", "dev"), ("netwrk", "dev"), ("network", "qa")])
def test_plan_check_names_the_valid_stacks_and_envs(stack, env_name, fake_terraform):
    _one_line(
        _script("check", "--stack", stack, "--env", env_name, env=fake_terraform),
        2,
        f"got STACK={stack!r} ENV={env_name!r}",
        ", ".join(STACKS_IN_DEPLOY_ORDER) + " (deploy order)",
        "dev, staging, prod",
        "make plan STACK=network ENV=dev",
    )
    assert _calls(fake_terraform) == [], "checked terraform before the arguments"


def test_plan_check_passes_a_valid_target_with_terraform(fake_terraform):
    proc = _script("check", "--stack", "services", "--env", "prod", env=fake_terraform)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize("args", [["plan"], ["plan", "STACK=network", "ENV=qa"]])
def test_make_plan_with_bad_arguments_fails_before_synth(args):
    proc = make(*args, env=os.environ.copy())
    assert proc.returncode != 0
    assert "make plan needs STACK and ENV" in proc.stderr and "Traceback" not in proc.stderr
    assert "main.py" not in proc.stdout, "synthesized before checking the arguments"


def test_make_validate_without_terraform_fails_before_synth(tmp_path):
    proc = make(
        "validate",
        env={**os.environ, "PATH": path_without("terraform"), "ECS_CDKTF_CACHE": str(tmp_path)},
    )
    assert proc.returncode != 0
    assert "terraform not found on PATH" in proc.stderr
    assert "main.py" not in proc.stdout, "synthesized before checking for terraform"


@needs_real_provider
def test_real_terraform_and_the_built_provider_validate_the_dev_stacks(synth, tmp_path):
    names = [f"{kind}-dev" for kind in STACKS_IN_DEPLOY_ORDER]
    proc = real_provider.validate(synth.outdir, names, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].endswith(f"all {len(names)} stacks valid")


def test_without_terraform_the_opentofu_make_terraform_cli_built_runs(synth, tmp_path):
    """No terraform on PATH: the `tofu` in the cache (a stand-in that answers as OpenTofu does,
    `version -json` under terraform_version) is the CLI; without it, one line names the fix."""
    env = {**os.environ, "PATH": path_without("terraform"), "ECS_CDKTF_CACHE": str(tmp_path)}
    _one_line(_script("validate", str(synth.outdir), env=env), 2, "make terraform-cli")
    tofu = (
        tmp_path
        / "opentofu"
        / go_tools.required_version(ROOT / "tools" / "opentofu" / "go.mod", go_tools.TOFU_MODULE)
        / "tofu"
    )
    tofu.parent.mkdir(parents=True)
    tofu.write_text(FAKE_TERRAFORM.format(python=sys.executable, version=AWS_PROVIDER_VERSION))
    tofu.chmod(0o755)
    env.update(FAKE_TF_LOG=str(tmp_path / "calls.jsonl"), FAKE_TF_VERSION="1.10.10")
    proc = _script("validate", str(synth.outdir), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.splitlines()[-1] == f"tofu 1.10.10: all {len(synth.stack_names)} stacks valid"
    )


def test_ci_builds_the_provider_and_validates_both_engines_before_the_tests():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    steps = [
        "make terraform-cli",
        "make provider",
        "make validate",
        "make validate ENGINE=cdktn",
        "make test",
    ]
    assert [line for line in lines if line in steps] == steps
    assert not any(line.startswith(("if ", "[[")) or "SKIPPED" in line for line in lines)
