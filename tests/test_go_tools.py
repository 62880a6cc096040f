"""make provider / make terraform-cli: wrapper modules under tools/, the cache mirror, its stamp.

The Go build itself is too slow for a test (CI runs `make provider`); these check what decides
whether and what to build, against the real `go` where one is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import go_tools
from settings.providers import AWS_PROVIDER_VERSION
from tests.processes import ROOT, path_without

NEEDS_GO = pytest.mark.skipif(shutil.which("go") is None, reason="no go on PATH")
SCRIPT = str(ROOT / "scripts" / "go_tools.py")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECS_CDKTF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _directives(gomod: str, keyword: str) -> set[str]:
    """`godebug`/`replace` lines of a go.mod, in one-line or block form, whitespace-normalized."""
    found, block = set(), False
    for raw in gomod.splitlines():
        line = raw.split("//")[0].strip()
        if block:
            block = line != ")"
            if block and line:
                found.add(" ".join(line.split()))
        elif line == f"{keyword} (":
            block = True
        elif line.startswith(f"{keyword} "):
            found.add(" ".join(line[len(keyword) :].split()))
    return found


@pytest.mark.parametrize(
    ("wrapper", "module"),
    [("provider", go_tools.PROVIDER_MODULE), ("opentofu", go_tools.TOFU_MODULE)],
)
def test_each_wrapper_requires_its_module_and_builds_it_as_a_tool(wrapper, module):
    gomod = (ROOT / "tools" / wrapper / "go.mod").read_text()
    assert re.match(
        r"v\d+\.\d+\.\d+", go_tools.required_version(ROOT / "tools" / wrapper / "go.mod", module)
    )
    assert re.search(rf"^tool {re.escape(module)}", gomod, re.MULTILINE)
    assert (ROOT / "tools" / wrapper / "go.sum").stat().st_size > 0


@NEEDS_GO
@pytest.mark.parametrize(
    ("wrapper", "module"),
    [("provider", go_tools.PROVIDER_MODULE), ("opentofu", go_tools.TOFU_MODULE)],
)
def test_each_wrapper_repeats_the_godebug_and_replace_lines_of_its_module(wrapper, module):
    """They apply only in the main module: without them the build differs from upstream's."""
    directory = ROOT / "tools" / wrapper
    version = go_tools.required_version(directory / "go.mod", module)
    upstream = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert upstream.returncode == 0, upstream.stdout + upstream.stderr
    theirs = Path(json.loads(upstream.stdout)["GoMod"]).read_text()
    ours = (directory / "go.mod").read_text()
    for keyword in ("godebug", "replace"):
        assert _directives(theirs, keyword) <= _directives(ours, keyword), keyword


@pytest.mark.parametrize(
    ("top", "release"),
    [("## 6.48.0 (Unreleased)", "6.48.0"), ("## 6.47.0 (May 27, 2026)", "6.47.0")],
)
def test_the_release_of_a_provider_source_is_its_changelogs_top_heading(tmp_path, top, release):
    (tmp_path / "CHANGELOG.md").write_text(f"{top}\n\nFEATURES:\n\n## 6.46.0 (May 20, 2026)\n")
    assert go_tools.release_of(tmp_path) == release


def test_a_provider_source_without_a_release_heading_is_refused(tmp_path):
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n")
    with pytest.raises(go_tools.Failure, match="cannot tell the release"):
        go_tools.release_of(tmp_path)


@NEEDS_GO
def test_the_mirror_path_is_the_unpacked_layout_for_the_pinned_release(cache):
    target = go_tools.provider_tool().target
    assert target.relative_to(cache / "terraform-mirror").parts == (
        "registry.terraform.io",
        "hashicorp",
        "aws",
        AWS_PROVIDER_VERSION,
        f"{go_tools._go_env('GOOS')}_{go_tools._go_env('GOARCH')}",
        f"terraform-provider-aws_v{AWS_PROVIDER_VERSION}",
    )


@NEEDS_GO
def test_make_provider_is_a_no_op_when_the_stamp_matches_and_rebuilds_when_the_pin_moved(cache):
    tool = go_tools.provider_tool()
    stamp = tool.stamp()
    tool.target.parent.mkdir(parents=True)
    tool.target.write_bytes(b"built before")
    tool.stamp_path().write_text(json.dumps(stamp))
    assert tool.is_current(stamp)
    assert not tool.is_current({**stamp, "version": "v1.60.1-0.20990101000000-000000000000"})
    assert not tool.is_current({**stamp, "go": "go1.0"})
    proc = subprocess.run(
        [sys.executable, SCRIPT, "provider"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"hashicorp/aws {AWS_PROVIDER_VERSION}: up to date" in proc.stdout
    assert tool.target.read_bytes() == b"built before"
    assert (
        cache
        / "terraform-mirror"
        / "registry.opentofu.org"
        / "hashicorp"
        / "aws"
        / AWS_PROVIDER_VERSION
    ).resolve() == tool.target.parent.parent


def test_the_cli_config_installs_hashicorp_aws_from_the_mirror_only(cache):
    text = go_tools.write_cli_config().read_text()
    assert f'path    = "{cache / "terraform-mirror"}"' in text
    for host in go_tools.REGISTRY_HOSTS:
        assert text.count(f'"{host}/hashicorp/aws"') == 2  # include in the mirror, exclude direct


def test_make_provider_without_go_says_so_in_one_line(cache):
    env = {**os.environ, "PATH": path_without("go")}
    proc = subprocess.run(
        [sys.executable, SCRIPT, "provider"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert "go not found on PATH" in proc.stderr and "Traceback" not in proc.stderr
