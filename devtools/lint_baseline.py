"""The phase-1 lint baseline of issue 25: the marked blocks of pyproject.toml that keep ruff and
mypy off the parts of the tree other branches were editing when the linters arrived.

    python -m devtools.lint_baseline without OUT    # OUT: pyproject.toml less the baseline
    python -m devtools.lint_baseline remove         # phase 2: delete the blocks in place

`make lint-report` type-checks with the first to count what the baseline hides; phase 2 runs
the second, then `make format-tree` and fixes the rest (README "Lint, types and coverage").
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "# >>> ISSUE 25 PHASE-1 BASELINE"
END = "# <<< ISSUE 25 PHASE-1 BASELINE"


def strip(text: str) -> str:
    """`text` without the lines from each BEGIN marker through its END marker (comments and
    settings alike); an unclosed or nested block is an error, not a silent partial strip."""
    kept: list[str] = []
    inside = False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if line.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {number}: baseline block opened twice")
            inside = True
        elif line.startswith(END):
            if not inside:
                raise ValueError(f"line {number}: baseline block closed but never opened")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError("baseline block never closed")
    result = "".join(kept)
    tomllib.loads(result)  # still valid TOML
    return result


def main(argv: list[str] | None = None) -> int:
    """`without OUT` writes the stripped copy; `remove` rewrites pyproject.toml in place."""
    parser = argparse.ArgumentParser(description="issue 25's phase-1 lint baseline")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("without").add_argument("out", type=Path)
    commands.add_parser("remove")
    args = parser.parse_args(argv)
    pyproject = ROOT / "pyproject.toml"
    stripped = strip(pyproject.read_text())
    (args.out if args.command == "without" else pyproject).write_text(stripped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
