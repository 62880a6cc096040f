"""Build hashicorp/aws (and, without terraform, OpenTofu) from Go modules into a cache.

Usage: python scripts/go_tools.py provider     # make provider: the mirror + its CLI config
       python scripts/go_tools.py config       # print the CLI config path (TF_CLI_CONFIG_FILE)

Each tool is a wrapper module under tools/ that requires the upstream module at one version
(OpenTofu's, for `make terraform-cli`, is built by scripts/terraform_stacks.py) (repeating its
`godebug`/`replace` lines, which apply only in a main module: `go install
pkg@version` refuses a go.mod with `replace`). The binaries go to a cache outside the
repository (ECS_CDKTF_CACHE, default ~/.cache/ecs-cdktf), laid out as Terraform's unpacked
filesystem mirror expects; a stamp records what was built, so a rerun is a no-op and a changed
pin rebuilds. A failure is one line on stderr (go's own error quoted) and exit 1, or 2 for a
missing prerequisite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from settings.providers import AWS_PROVIDER_VERSION  # noqa: E402

PROVIDER_MODULE = "github.com/hashicorp/terraform-provider-aws"
TOFU_MODULE = "github.com/opentofu/opentofu"
REGISTRY_HOSTS = ("registry.terraform.io", "registry.opentofu.org")
"""`hashicorp/aws` means registry.terraform.io to terraform and registry.opentofu.org to tofu:
the mirror answers for both."""
BUILD_TIMEOUT_S = 3 * 3600
LDFLAGS = "-s -w"  # as the provider's release builds (.goreleaser.yml): no symbol table/DWARF


class Failure(Exception):
    """One line for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def exit_code(action: Callable[[], None]) -> int:
    """Run a command's action: 0, or its Failure as one line on stderr and its code."""
    try:
        action()
    except Failure as failure:
        print(failure, file=sys.stderr)
        return failure.code
    return 0


def cache_dir() -> Path:
    """Where built tools live: ECS_CDKTF_CACHE, default ~/.cache/ecs-cdktf (outside the repo)."""
    return Path(os.environ.get("ECS_CDKTF_CACHE", Path.home() / ".cache" / "ecs-cdktf"))


def mirror_dir() -> Path:
    return cache_dir() / "terraform-mirror"


def cli_config_path() -> Path:
    return cache_dir() / "terraform.rc"


def required_version(gomod: Path, module: str) -> str:
    """The version `gomod` requires `module` at (a tag or pseudo-version)."""
    match = re.search(
        rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod.read_text(), re.MULTILINE
    )
    if match is None:
        raise Failure(f"{gomod} does not require {module}", 2)
    return match.group(1)


def release_of(source: Path) -> str:
    """The hashicorp/aws release a provider source tree is: its CHANGELOG's top heading, which
    is `## X (Unreleased)` on a commit between releases (X is the release those commits go to)."""
    changelog = source / "CHANGELOG.md"
    top = (
        next((line for line in changelog.read_text().splitlines() if line.startswith("## ")), None)
        if changelog.is_file()
        else None
    )
    match = re.match(r"## (\d+\.\d+\.\d+)\b", top or "")
    if match is None:
        raise Failure(
            f"cannot tell the release of {source}: no `## X.Y.Z` heading on top of "
            f"its CHANGELOG.md",
            1,
        )
    return match.group(1)


def _go() -> str:
    exe = shutil.which("go")
    if exe is None:
        raise Failure(
            "go not found on PATH: make provider builds hashicorp/aws from Go modules "
            "with the Go toolchain (https://go.dev/dl/; the version in "
            "tools/provider/go.mod or newer)",
            2,
        )
    return exe


def _go_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOFLAGS": "-trimpath -buildvcs=false -mod=readonly"}
    try:
        proc = subprocess.run(
            [_go(), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise Failure(f"go {' '.join(args)} did not finish in {BUILD_TIMEOUT_S} s", 1) from None
    if proc.returncode != 0:
        errors = [
            line.strip()
            for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith("go: downloading")
        ]
        raise Failure(
            f"go {' '.join(args)} failed in {cwd.relative_to(ROOT)}: "
            f"{' | '.join(errors[-4:]) or 'no output'}",
            1,
        )
    return proc


@dataclass(frozen=True)
class GoTool:
    """One binary built from a wrapper module under tools/ into `target`."""

    wrapper: Path  # tools/<name>, holding go.mod + go.sum
    module: str  # the upstream module the wrapper requires
    package: str  # its main package
    target: Path  # the binary's path in the cache

    def stamp(self) -> dict[str, str]:
        """What a build from the current pins records next to its binary."""
        go_version = _go_run(["env", "GOVERSION"], self.wrapper).stdout.strip()
        return {
            "module": self.module,
            "version": required_version(self.wrapper / "go.mod", self.module),
            "go": go_version,
            "ldflags": LDFLAGS,
        }

    def stamp_path(self) -> Path:
        return self.target.with_name(self.target.name + ".stamp.json")

    def is_current(self, stamp: dict[str, str]) -> bool:
        path = self.stamp_path()
        return self.target.is_file() and path.is_file() and json.loads(path.read_text()) == stamp

    def source_dir(self) -> Path:
        """The upstream module's source in the module cache (downloaded if need be)."""
        proc = _go_run(["mod", "download", "-json", self.module], self.wrapper)
        return Path(json.loads(proc.stdout)["Dir"])

    def build(self, stamp: dict[str, str]) -> dict[str, float]:
        """go build into the cache (atomically); returns wall seconds, peak RSS MB, size MB."""
        self.target.parent.mkdir(parents=True, exist_ok=True)
        partial = self.target.with_name(self.target.name + ".partial")
        started = time.monotonic()
        _go_run(["build", "-ldflags", LDFLAGS, "-o", str(partial), self.package], self.wrapper)
        figures = {
            "seconds": round(time.monotonic() - started, 1),
            # ru_maxrss of the largest child (compile or link), in KiB on Linux
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "binary_mb": round(partial.stat().st_size / 2**20),
        }
        partial.replace(self.target)
        self.stamp_path().write_text(json.dumps(stamp, indent=1) + "\n")
        return figures


def provider_tool() -> GoTool:
    platform = f"{_go_env('GOOS')}_{_go_env('GOARCH')}"
    version = AWS_PROVIDER_VERSION
    target = (
        mirror_dir()
        / REGISTRY_HOSTS[0]
        / "hashicorp"
        / "aws"
        / version
        / platform
        / f"terraform-provider-aws_v{version}"
    )
    return GoTool(ROOT / "tools" / "provider", PROVIDER_MODULE, PROVIDER_MODULE, target)


def tofu_tool() -> GoTool:
    version = required_version(ROOT / "tools" / "opentofu" / "go.mod", TOFU_MODULE)
    return GoTool(
        ROOT / "tools" / "opentofu",
        TOFU_MODULE,
        f"{TOFU_MODULE}/cmd/tofu",
        cache_dir() / "opentofu" / version / "tofu",
    )


def _go_env(name: str) -> str:
    out: str = _go_run(["env", name], ROOT / "tools" / "provider").stdout
    return out.strip()


CLI_CONFIG = """# Written by `make provider` (scripts/go_tools.py): hashicorp/aws from its build.
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = [{hosts}]
  }}
  direct {{
    exclude = [{hosts}]
  }}
}}
"""


def write_cli_config() -> Path:
    """The CLI config (TF_CLI_CONFIG_FILE) that installs hashicorp/aws from the mirror only."""
    hosts = ", ".join(f'"{host}/hashicorp/aws"' for host in REGISTRY_HOSTS)
    path = cli_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLI_CONFIG.format(mirror=mirror_dir(), hosts=hosts))
    return path


def _link_other_registry(tool: GoTool) -> None:
    """The same unpacked directory under registry.opentofu.org (a relative symlink)."""
    link = mirror_dir() / REGISTRY_HOSTS[1] / "hashicorp" / "aws"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("..") / ".." / REGISTRY_HOSTS[0] / "hashicorp" / "aws")


def build_provider() -> None:
    """make provider: build the pinned hashicorp/aws into the mirror unless already there."""
    tool = provider_tool()
    stamp = tool.stamp()
    if tool.is_current(stamp):
        print(f"hashicorp/aws {AWS_PROVIDER_VERSION}: up to date at {tool.target}")
    else:
        release = release_of(tool.source_dir())
        if release != AWS_PROVIDER_VERSION:
            raise Failure(
                f"tools/provider/go.mod requires {PROVIDER_MODULE} {stamp['version']}, "
                f"which is release {release} (its CHANGELOG.md), but the stacks pin "
                f"{AWS_PROVIDER_VERSION} (settings/providers.py): make them agree",
                1,
            )
        print(
            f"building hashicorp/aws {AWS_PROVIDER_VERSION} ({PROVIDER_MODULE} "
            f"{stamp['version']}, {stamp['go']}); a first build takes a while",
            flush=True,
        )
        print(f"built {tool.target}: {json.dumps(tool.build(stamp))}")
    _link_other_registry(tool)
    print(f"CLI config: {write_cli_config()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("provider", "config"))
    args = parser.parse_args(argv)
    if args.command == "config":
        print(cli_config_path())
        return 0
    return exit_code(build_provider)


if __name__ == "__main__":
    sys.exit(main())
