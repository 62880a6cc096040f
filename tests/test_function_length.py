"""No function or method longer than 60 lines outside the tests (issue 16): the infrastructure
code, the agent, and the scripts, benchmarks and devtools beside them.

A constructor that runs for a hundred lines hides which resources belong together; the limit
asks for one helper per concern (its security group, its listeners, its rules). Lines count
from `def` to the last line of the body, docstring and comments included. To cover another
package, add it to CHECKED.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
CHECKED = (
    "main.py",
    "engine",
    "settings",
    "modules",
    "stacks",
    "config_agent",
    "scripts",
    "bench",
    "devtools",
)
"""Files and packages (recursively) held to MAX_LINES."""


def function_lengths(source: str) -> dict[str, int]:
    """{qualified name: lines} of every function and method, nested ones included."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lengths[name] = child.end_lineno - child.lineno + 1
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def checked_files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_the_measure_counts_methods_and_nested_functions():
    source = (
        "class A:\n    def f(self):\n        def g():\n            pass\n"
        "        return g\n\nasync def h():\n    pass\n"
    )
    assert function_lengths(source) == {"A.f": 4, "A.f.g": 2, "h": 2}


def test_no_function_is_longer_than_the_limit():
    long = [
        f"{path.relative_to(ROOT)}:{name} ({lines} lines)"
        for path in checked_files()
        for name, lines in function_lengths(path.read_text()).items()
        if lines > MAX_LINES
    ]
    assert len(checked_files()) > 50
    assert not long, f"functions over {MAX_LINES} lines; split them by concern:\n" + "\n".join(long)
