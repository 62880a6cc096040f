"""`make docs` rewrites README blocks only when they changed, and says which happened."""

from __future__ import annotations

import pytest

from scripts import checkov_scan, diagram

SCRIPTS = {
    "diagram": (diagram.main, diagram.MARK_START, diagram.MARK_END),
    "checkov-skips": (checkov_scan.main, checkov_scan.SKIPS_START, checkov_scan.SKIPS_END),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_readme_block_reports_updated_then_up_to_date(name, synth, tmp_path, capsys):
    run, start, end = SCRIPTS[name]
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{start}\nstale block\n{end}\n\ntail\n")
    args = [str(synth.outdir / "stacks"), "--readme", str(readme)]

    assert run(args) == 0
    assert capsys.readouterr().out.strip() == f"updated {readme}"
    first = readme.read_text()
    assert "stale block" not in first and first.startswith("# title\n") and first.endswith("tail\n")
    mtime = readme.stat().st_mtime_ns

    assert run(args) == 0
    assert capsys.readouterr().out.strip() == f"{readme} up to date"
    assert readme.read_text() == first
    assert readme.stat().st_mtime_ns == mtime, "an unchanged README was rewritten"
