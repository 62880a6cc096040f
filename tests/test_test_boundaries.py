"""Test code and tools stay apart (issue 16): nothing outside tests/ imports `tests`, and no test
reaches other code by editing sys.path.

What the tests, the bench and the demo share lives in devtools/. A bench or script importing
`tests` would drag test fixtures into tools and make test helpers an API nobody reviews as one;
a test that puts scripts/ on sys.path imports a second copy of modules under other names.
Scripts are a package: `from scripts import summarize`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {".git", "node_modules", "cdktf.out", "__pycache__"}


def python_files(under: Path = ROOT, skip: frozenset[str] = frozenset()) -> list[Path]:
    files = []
    for path in sorted(under.rglob("*.py")):
        parts = path.relative_to(ROOT).parts[:-1]
        if not any(p in SKIPPED or p in skip or p.startswith(".venv") for p in parts):
            files.append(path)
    return files


def imports_of_tests(source: str) -> list[str]:
    """Every `import tests...` / `from tests... import` in `source`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "tests"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "tests"
        ):
            found.append(node.module)
    return found


def sys_path_edits(source: str) -> list[int]:
    """Line numbers of every `sys.path.insert(...)` / `sys.path.append(...)` call."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("insert", "append")
        and ast.unparse(node.func.value) == "sys.path"
    ]


def test_the_check_finds_imports_of_tests_at_any_depth():
    source = (
        "import os\nimport tests.processes\nfrom tests import event_pattern\n"
        "def f():\n    from tests.config_agent.conftest import get\n"
        "from testsuite import x\nimport contests\n"
    )
    assert imports_of_tests(source) == ["tests.processes", "tests", "tests.config_agent.conftest"]


def test_nothing_outside_tests_imports_tests():
    files = python_files(skip=frozenset({"tests"}))
    assert len(files) > 50 and ROOT / "bench" / "agent_bench.py" in files
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in imports_of_tests(path.read_text())
    ]
    assert not offenders, "import test code from devtools/ instead:\n" + "\n".join(offenders)


def test_the_check_finds_sys_path_edits():
    source = (
        "import sys\nsys.path.insert(0, 'scripts')\nif True:\n"
        "    sys.path.append('x')\npath = []\npath.insert(0, 1)\n"
    )
    assert sys_path_edits(source) == [2, 4]


def test_no_test_edits_sys_path():
    files = python_files(ROOT / "tests")
    assert len(files) > 50 and Path(__file__).resolve() in files
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line in sys_path_edits(path.read_text())
    ]
    assert not offenders, (
        "import scripts as a package (`from scripts import x`) instead:\n" + "\n".join(offenders)
    )
