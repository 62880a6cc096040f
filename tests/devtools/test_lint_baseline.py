"""devtools/lint_baseline.py: what phase 2 of issue 25 deletes from pyproject.toml, only that."""

from __future__ import annotations

import tomllib

import pytest

from devtools import lint_baseline as baseline


def test_strip_removes_each_marked_block_and_nothing_else():
    text = ("[a]\nx = 1\n"
            f"{baseline.BEGIN}: why\n# more why\ny = 2\n{baseline.END}\n"
            "z = 3\n"
            f"{baseline.BEGIN}\n[[b]]\nw = 4\n{baseline.END}\n")
    assert baseline.strip(text) == "[a]\nx = 1\nz = 3\n"


@pytest.mark.parametrize("text", [f"{baseline.BEGIN}\nx = 1\n",
                                  f"x = 1\n{baseline.END}\n",
                                  f"{baseline.BEGIN}\n{baseline.BEGIN}\n{baseline.END}\n"])
def test_an_unbalanced_block_is_an_error(text):
    with pytest.raises(ValueError, match="block"):
        baseline.strip(text)


def test_the_projects_baseline_is_the_ruff_include_format_exclude_and_mypy_ignores():
    text = (baseline.ROOT / "pyproject.toml").read_text()
    config, stripped = tomllib.loads(text), tomllib.loads(baseline.strip(text))
    assert "include" in config["tool"]["ruff"] and "include" not in stripped["tool"]["ruff"]
    assert "exclude" not in stripped["tool"]["ruff"]["format"]
    assert not any(o.get("ignore_errors") for o in stripped["tool"]["mypy"]["overrides"])
    # Everything else is untouched: the rule set, mypy's strictness, coverage.
    assert stripped["tool"]["ruff"]["lint"] == config["tool"]["ruff"]["lint"]
    assert stripped["tool"]["mypy"]["strict"] is True
    assert stripped["tool"]["coverage"] == config["tool"]["coverage"]


def test_without_writes_a_stripped_copy_and_leaves_pyproject_alone(tmp_path):
    before = (baseline.ROOT / "pyproject.toml").read_text()
    assert baseline.main(["without", str(tmp_path / "pyproject.toml")]) == 0
    assert (tmp_path / "pyproject.toml").read_text() == baseline.strip(before)
    assert (baseline.ROOT / "pyproject.toml").read_text() == before
