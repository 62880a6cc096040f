"""devtools/lint_baseline.py: what phase 2 of issue 25 deletes from pyproject.toml, only that."""

from __future__ import annotations

import tomllib

import pytest

from devtools import lint_baseline as baseline


def test_strip_removes_each_marked_block_and_nothing_else():
    text = (
        "[a]\nx = 1\n"
        f"{baseline.BEGIN}: why\n# more why\ny = 2\n{baseline.END}\n"
        "z = 3\n"
        f"{baseline.BEGIN}\n[[b]]\nw = 4\n{baseline.END}\n"
    )
    assert baseline.strip(text) == "[a]\nx = 1\nz = 3\n"


@pytest.mark.parametrize(
    "text",
    [
        f"{baseline.BEGIN}\nx = 1\n",
        f"x = 1\n{baseline.END}\n",
        f"{baseline.BEGIN}\n{baseline.BEGIN}\n{baseline.END}\n",
    ],
)
def test_an_unbalanced_block_is_an_error(text):
    with pytest.raises(ValueError, match="block"):
        baseline.strip(text)


def test_the_project_has_no_baseline_left():
    """Phase 2 of issue 25 is done: every tool sees the whole tree with the full rule set."""
    text = (baseline.ROOT / "pyproject.toml").read_text()
    assert baseline.BEGIN not in text and baseline.END not in text
    config = tomllib.loads(text)
    assert "include" not in config["tool"]["ruff"]
    assert "exclude" not in config["tool"]["ruff"].get("format", {})
    assert not any(o.get("ignore_errors") for o in config["tool"]["mypy"].get("overrides", []))
    assert config["tool"]["mypy"]["strict"] is True
