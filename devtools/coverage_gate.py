"""Per-package line and branch coverage from `coverage json`, held to the floors in pyproject.toml.

    python -m devtools.coverage_gate coverage.json      # `make test` runs it after the suite

Prints one row per top-level package (main.py is its own row) and the total, then checks
[tool.ecs-cdktf.coverage-floors]: `total` and any package may set a `line` and/or `branch` floor
in percent. Exit status 1 names every figure below its floor. [tool.ecs-cdktf.coverage-targets],
same shape, names the figures still below where they should get to, without failing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOTAL = "total"


@dataclass
class Figures:
    """Statement and branch counts of one package (or of everything)."""

    statements: int = 0
    covered: int = 0
    branches: int = 0
    covered_branches: int = 0

    def add(self, summary: Mapping[str, int]) -> None:
        """Add one file's `summary` from coverage's JSON report."""
        self.statements += summary["num_statements"]
        self.covered += summary["covered_lines"]
        self.branches += summary.get("num_branches", 0)
        self.covered_branches += summary.get("covered_branches", 0)

    @property
    def line(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 100.0

    @property
    def branch(self) -> float:
        return 100.0 * self.covered_branches / self.branches if self.branches else 100.0


def by_package(report: Mapping[str, Any]) -> dict[str, Figures]:
    """{package: figures} for every file in the report, plus TOTAL."""
    packages: dict[str, Figures] = {TOTAL: Figures()}
    for path, data in report["files"].items():
        package = Path(path).parts[0]
        packages.setdefault(package, Figures()).add(data["summary"])
        packages[TOTAL].add(data["summary"])
    return packages


def table(packages: Mapping[str, Figures]) -> str:
    """A fixed-width table: statements, missed, line %, branches, missed, branch %."""
    header = (
        f"{'package':<14}{'stmts':>7}{'miss':>6}{'line':>8}{'branches':>10}{'miss':>6}{'branch':>8}"
    )
    rows = [header]
    for name in [*sorted(p for p in packages if p != TOTAL), TOTAL]:
        f = packages[name]
        rows.append(
            f"{name:<14}{f.statements:>7}{f.statements - f.covered:>6}{f.line:>7.1f}%"
            f"{f.branches:>10}{f.branches - f.covered_branches:>6}{f.branch:>7.1f}%"
        )
    return "\n".join(rows)


def shortfalls(
    packages: Mapping[str, Figures], floors: Mapping[str, Mapping[str, float]], what: str = "floor"
) -> list[str]:
    """One message per figure below its floor; a floor for a package not measured is one too."""
    found = []
    for name, kinds in sorted(floors.items()):
        if name not in packages:
            found.append(f"{name}: has a coverage {what} but no measured code")
            continue
        for kind, floor in sorted(kinds.items()):
            value = getattr(packages[name], kind)
            if value < floor:
                found.append(f"{name}: {kind} coverage {value:.1f}% is below its {what} {floor}%")
    return found


def load_floors(pyproject: Path, table: str = "coverage-floors") -> dict[str, dict[str, float]]:
    """[tool.ecs-cdktf.<table>] of pyproject.toml (none: {}); only `line`/`branch` keys."""
    floors: dict[str, dict[str, float]] = tomllib.loads(pyproject.read_text())["tool"][
        "ecs-cdktf"
    ].get(table, {})
    for name, kinds in floors.items():
        unknown = set(kinds) - {"line", "branch"}
        if unknown:
            raise SystemExit(f"{pyproject}: coverage floor {name} has unknown keys {unknown}")
    return floors


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 if any figure is below its floor."""
    parser = argparse.ArgumentParser(description="per-package coverage and its floors")
    parser.add_argument("report", type=Path, help="the output of `coverage json`")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    packages = by_package(json.loads(args.report.read_text()))
    print(table(packages))
    targets = load_floors(args.pyproject, "coverage-targets")
    for note in shortfalls(packages, targets, "target"):
        print(f"NOTE (not failing): {note}", file=sys.stderr)
    problems = shortfalls(packages, load_floors(args.pyproject))
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
