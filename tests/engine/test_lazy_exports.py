"""engine/lazy_exports.js, the preload that makes the provider's JS exports load on first use.

Run with node on a small package shaped like the generated provider (lib/index.js requiring
one module per resource); the real provider is covered by test_loader (the preload must report
it) and test_fast_path (byte-identical output).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine import loader

COUNT = 120
PROBE = """
const m = require(process.argv[1]);
const loaded = () => Object.keys(require.cache).filter((f) => /r\\d+\\.js$/.test(f)).length;
const before = loaded();
const value = m.r7.name;
console.log(JSON.stringify({before, value, after: loaded(), keys: Object.keys(m).length}));
"""


def _package(tmp_path: Path, index_lines: list[str], import_star: bool = False) -> Path:
    lib = tmp_path / "node_modules" / "@fake" / "provider-aws" / "lib"
    lib.mkdir(parents=True)
    for i in range(COUNT):
        (lib / f"r{i}.js").write_text(f'exports.name = "resource {i}";\n')
    helper = "var __importStar = (m) => m;\n" if import_star else ""
    (lib / "index.js").write_text('"use strict";\n' + helper + "\n".join(index_lines) + "\n")
    return lib.parent


def _node(package: Path, report: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "NODE_OPTIONS": f'--require "{loader.LAZY_EXPORTS_JS}"',
        "ECS_ENGINE_LAZY_EXPORTS": json.dumps(["@fake/provider-aws"]),
        "ECS_ENGINE_LAZY_REPORT": str(report),
    }
    return subprocess.run(
        ["node", "-e", PROBE, str(package / "lib" / "index.js")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("import_star", [False, True], ids=["cdktf", "cdktn"])
def test_exports_load_on_first_use_and_the_package_is_reported(tmp_path, import_star):
    wrap = "__importStar(require({}))" if import_star else "require({})"
    lines = [f"exports.r{i} = {wrap.format(json.dumps(f'./r{i}'))};" for i in range(COUNT)]
    report = tmp_path / "report"
    done = _node(_package(tmp_path, lines, import_star), report)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts == {"before": 0, "value": "resource 7", "after": 1, "keys": COUNT}
    assert report.read_text() == f"@fake/provider-aws {COUNT}\n"


def test_an_unrecognised_require_line_stops_the_load(tmp_path):
    lines = [f'exports.r{i} = require("./r{i}");' for i in range(COUNT)]
    lines.append('const helper = require("./r0").name;')
    done = _node(_package(tmp_path, lines), tmp_path / "report")
    assert done.returncode != 0
    assert "unexpected line" in done.stderr and "ECS_ENGINE_PLAIN=1" in done.stderr


def test_a_file_with_too_few_exports_is_not_taken_for_the_provider(tmp_path):
    done = _node(_package(tmp_path, ['exports.r0 = require("./r0");']), tmp_path / "report")
    assert done.returncode != 0 and "only 1 submodule exports" in done.stderr
