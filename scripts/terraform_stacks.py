"""Terraform over the synthesized stacks: the checks before `make plan`, and `make validate`.

Usage: python scripts/terraform_stacks.py check [--stack STACK --env ENV]
       python scripts/terraform_stacks.py validate [cdktf.out] [--cli-config FILE]
       python scripts/terraform_stacks.py cli        # make terraform-cli

`check` runs before any synth (seconds, not a synth's 20 s): terraform is installed and new
enough, and STACK/ENV name a real stack. `validate` runs `terraform init -backend=false` and
`terraform validate` in every stack the manifest lists (with --cli-config, the provider comes
from `make provider`'s mirror). The CLI is `terraform` >= 1.10 from PATH, else the OpenTofu
`tofu` that `cli` builds from Go modules when PATH has no usable terraform. A missing tool, a
bad argument or a provider that cannot be installed is ONE line on stderr and exit 2 (usage,
prerequisite) or 1 (terraform failed); nothing passes silently.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from main import STACKS_IN_DEPLOY_ORDER  # noqa: E402  (no cdktf import: fast)
from scripts import go_tools  # noqa: E402
from settings.environments import ENVIRONMENTS  # noqa: E402

MIN_TERRAFORM = (1, 10)
"""Every S3 backend here sets `use_lockfile` (S3-native locking), new in Terraform 1.10:
https://developer.hashicorp.com/terraform/language/backend/s3#use_lockfile"""

PROVIDER_INSTALL_ERRORS = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "Failed to install providers",
)
"""Summaries `terraform init` prints when no registry, mirror or cache provides a provider."""

TIMEOUT_S = 1800  # a first init downloads the aws provider (~150 MB); never wait forever


Failure = go_tools.Failure
"""One line for the user and the exit code that goes with it."""


def _run(argv: list[str], cli_config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    if cli_config is not None:  # make validate: hashicorp/aws from `make provider`'s mirror
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(argv)} did not finish in {TIMEOUT_S} s", 1) from None


def _version(exe: str) -> str:
    """`version -json`'s terraform_version (OpenTofu's `tofu` answers under the same key)."""
    proc = _run([exe, "version", "-json"])
    try:
        return str(json.loads(proc.stdout)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        raise Failure(
            f"cannot read the version of {exe}: `{Path(exe).name} version -json` "
            f"exited {proc.returncode}",
            2,
        ) from None


def _new_enough(version: str) -> bool:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:2]) >= MIN_TERRAFORM


def find_terraform() -> tuple[str, str]:
    """(path, version) of the CLI: terraform >= 1.10 on PATH, else the OpenTofu that `make
    terraform-cli` built."""
    candidates = [
        exe
        for exe in (shutil.which("terraform"), str(go_tools.tofu_tool().target))
        if exe and Path(exe).is_file()
    ]
    if not candidates:
        raise Failure(
            "terraform not found on PATH: plan, apply and validate need Terraform "
            ">= 1.10 (https://developer.hashicorp.com/terraform/install), or "
            "`make terraform-cli` builds OpenTofu from Go modules",
            2,
        )
    versions = [(exe, _version(exe)) for exe in candidates]
    usable = [(exe, version) for exe, version in versions if _new_enough(version)]
    if not usable:
        raise Failure(
            f"Terraform >= 1.10 needed (S3 backend use_lockfile); {versions[0][0]} is "
            f"{versions[0][1]}",
            2,
        )
    if os.environ.get("TF_PLUGIN_CACHE_DIR"):
        Path(os.environ["TF_PLUGIN_CACHE_DIR"]).expanduser().mkdir(parents=True, exist_ok=True)
    return usable[0]


def ensure_cli() -> None:
    """make terraform-cli: a usable terraform on PATH, else build OpenTofu (no-op when built)."""
    exe = shutil.which("terraform")
    if exe is not None and _new_enough(_version(exe)):
        print(f"terraform {_version(exe)} at {exe}")
        return
    tool = go_tools.tofu_tool()
    stamp = tool.stamp()
    if not tool.is_current(stamp):
        print(
            f"no terraform >= 1.10 on PATH: building OpenTofu {stamp['version']} ({stamp['go']})",
            flush=True,
        )
        print(f"built {tool.target}: {json.dumps(tool.build(stamp))}")
    print(f"OpenTofu {_version(str(tool.target))} at {tool.target}")


def check_target(stack: str, env: str) -> None:
    """STACK and ENV name a stack `make plan` can run (known before any synth)."""
    envs = [e.name for e in ENVIRONMENTS]
    if stack not in STACKS_IN_DEPLOY_ORDER or env not in envs:
        raise Failure(
            f"make plan needs STACK and ENV (got STACK={stack!r} ENV={env!r}): STACK "
            f"one of {', '.join(STACKS_IN_DEPLOY_ORDER)} (deploy order), ENV one of "
            f"{', '.join(envs)}; e.g. make plan STACK=network ENV=dev",
            2,
        )


def synthesized_stacks(outdir: Path) -> list[tuple[str, Path]]:
    """(name, directory) of every stack the manifest of `outdir` lists."""
    manifest = outdir / "manifest.json"
    if not manifest.is_file():
        raise Failure(f"no {manifest}: run make synth first", 2)
    stacks = json.loads(manifest.read_text())["stacks"]
    return [(name, outdir / Path(s["synthesizedStackPath"]).parent) for name, s in stacks.items()]


def _first_error(output: str) -> str:
    """terraform's first `Error:` summary and the paragraph under it, as one line."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("Error: ")), None)
    if start is None:
        return " ".join(output.split())[-300:] or "no output"
    paragraph = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        paragraph.append(line.strip())
    summary = lines[start].strip()[len("Error: ") :]
    return f"{summary}: {' '.join(paragraph)}"[:400] if paragraph else summary


def _aws_provider(directory: Path) -> str:
    doc = json.loads((directory / "cdk.tf.json").read_text())
    version = doc.get("terraform", {}).get("required_providers", {}).get("aws", {}).get("version")
    return f"hashicorp/aws {version}" if version else "hashicorp/aws"


def init_failure(name: str, directory: Path, output: str) -> str:
    """The one line for a failed `terraform init`, naming the provider when that is the cause."""
    error = _first_error(output)
    if any(marker in output for marker in PROVIDER_INSTALL_ERRORS):
        return (
            f"make validate: no {_aws_provider(directory)} provider for {name}: terraform "
            f"init needs registry.terraform.io, or a filesystem_mirror (TF_CLI_CONFIG_FILE) "
            f"or TF_PLUGIN_CACHE_DIR that holds it (README 'Validate'); terraform said: "
            f"{error}"
        )
    return (
        f"make validate: terraform init failed for {name}: {error} (rerun: terraform "
        f"-chdir={directory} init -backend=false)"
    )


def validate(outdir: Path, cli_config: Path | None = None) -> None:
    """init -backend=false and validate every synthesized stack; raise on the first init failure."""
    exe, version = find_terraform()
    stacks = synthesized_stacks(outdir)
    invalid = []
    for name, directory in stacks:
        init = _run(
            [exe, f"-chdir={directory}", "init", "-backend=false", "-input=false", "-no-color"],
            cli_config,
        )
        if init.returncode != 0:
            raise Failure(init_failure(name, directory, init.stdout + init.stderr), 1)
        proc = _run([exe, f"-chdir={directory}", "validate", "-json", "-no-color"], cli_config)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise Failure(
                f"make validate: terraform validate exited {proc.returncode} for {name} "
                f"without a report: {_first_error(proc.stdout + proc.stderr)}",
                1,
            ) from None
        for d in report.get("diagnostics", []):
            print(
                f"{name}: {d.get('severity')}: {d.get('summary')}: {d.get('detail', '')}",
                file=sys.stderr,
            )
        if proc.returncode != 0 or not report.get("valid"):
            invalid.append(name)
        else:
            print(f"{name}: valid")
    if invalid:
        raise Failure(
            f"make validate: {len(invalid)} of {len(stacks)} stacks invalid: {', '.join(invalid)}",
            1,
        )
    print(f"{Path(exe).name} {version}: all {len(stacks)} stacks valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="terraform present; STACK/ENV valid if given")
    check.add_argument("--stack")
    check.add_argument("--env")
    run = commands.add_parser("validate", help="init -backend=false + validate every stack")
    run.add_argument("outdir", nargs="?", default=ROOT / "cdktf.out", type=Path)
    run.add_argument("--cli-config", type=Path, help="TF_CLI_CONFIG_FILE for init and validate")
    commands.add_parser("cli", help="terraform >= 1.10 on PATH, else build OpenTofu")
    args = parser.parse_args(argv)
    if args.command == "cli":
        return go_tools.exit_code(ensure_cli)
    if args.command == "validate":
        return go_tools.exit_code(lambda: validate(args.outdir, args.cli_config))
    return go_tools.exit_code(lambda: _check(args.stack, args.env))


def _check(stack: str | None, env: str | None) -> None:
    if stack is not None or env is not None:
        check_target(stack or "", env or "")
    find_terraform()


if __name__ == "__main__":
    sys.exit(main())
