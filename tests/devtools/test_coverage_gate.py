"""devtools/coverage_gate.py: per-package figures from `coverage json` and their floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import coverage_gate as gate


def _summary(statements: int, covered: int, branches: int, covered_branches: int) -> dict:
    return {
        "summary": {
            "num_statements": statements,
            "covered_lines": covered,
            "num_branches": branches,
            "covered_branches": covered_branches,
        }
    }


REPORT = {
    "files": {
        "config_agent/agent.py": _summary(100, 95, 40, 38),
        "config_agent/cache.py": _summary(50, 40, 20, 14),
        "main.py": _summary(10, 10, 0, 0),
        "settings/rules.py": _summary(40, 20, 10, 5),
    }
}


def _write(tmp_path: Path, floors: str) -> tuple[Path, Path]:
    report = tmp_path / "coverage.json"
    report.write_text(json.dumps(REPORT))
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.ecs-cdktf.coverage-floors]\n{floors}")
    return report, pyproject


def test_figures_add_up_per_top_level_package_and_in_total():
    packages = gate.by_package(REPORT)
    assert set(packages) == {"config_agent", "main.py", "settings", gate.TOTAL}
    agent = packages["config_agent"]
    assert (agent.statements, agent.covered, agent.branches, agent.covered_branches) == (
        150,
        135,
        60,
        52,
    )
    assert agent.line == pytest.approx(90.0) and agent.branch == pytest.approx(86.67, abs=0.01)
    assert packages["main.py"].branch == 100.0  # no branches: nothing to miss
    total = packages[gate.TOTAL]
    assert (total.statements, total.covered, total.branches) == (200, 165, 70)


def test_table_has_one_row_per_package_then_the_total():
    lines = gate.table(gate.by_package(REPORT)).splitlines()
    assert [line.split()[0] for line in lines] == [
        "package",
        "config_agent",
        "main.py",
        "settings",
        "total",
    ]
    assert lines[1].split()[1:] == ["150", "15", "90.0%", "60", "8", "86.7%"]


def test_a_figure_below_its_floor_fails_and_is_named(tmp_path, capsys):
    report, pyproject = _write(tmp_path, "config_agent = { branch = 90 }\ntotal = { line = 80 }\n")
    assert gate.main([str(report), "--pyproject", str(pyproject)]) == 1
    err = capsys.readouterr().err
    assert "config_agent: branch coverage 86.7% is below its floor 90%" in err
    assert "total" not in err  # 82.5% line >= 80


def test_figures_at_or_above_their_floors_pass(tmp_path, capsys):
    report, pyproject = _write(tmp_path, "config_agent = { branch = 86, line = 90 }\n")
    assert gate.main([str(report), "--pyproject", str(pyproject)]) == 0
    assert "config_agent" in capsys.readouterr().out


def test_a_target_below_the_figure_is_named_but_does_not_fail(tmp_path, capsys):
    report, pyproject = _write(tmp_path, "config_agent = { branch = 80 }\n")
    with pyproject.open("a") as f:
        f.write("[tool.ecs-cdktf.coverage-targets]\nconfig_agent = { branch = 90 }\n")
    assert gate.main([str(report), "--pyproject", str(pyproject)]) == 0
    assert (
        "NOTE (not failing): config_agent: branch coverage 86.7% is below its target 90%"
        in capsys.readouterr().err
    )


def test_a_floor_for_a_package_with_no_code_or_an_unknown_kind_is_an_error(tmp_path):
    _, pyproject = _write(tmp_path, "confg_agent = { branch = 90 }\n")
    assert gate.shortfalls(gate.by_package(REPORT), gate.load_floors(pyproject)) == [
        "confg_agent: has a coverage floor but no measured code"
    ]
    _, pyproject = _write(tmp_path, "settings = { branches = 90 }\n")
    with pytest.raises(SystemExit, match="unknown keys"):
        gate.load_floors(pyproject)
