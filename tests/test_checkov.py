"""checkov finds no failed check in any synthesized stack; every skip is inline and current."""

from __future__ import annotations

from pathlib import Path

from scripts import checkov_scan


def test_checkov_has_no_failures_and_no_stale_skips(table_synth):
    """Over the user's table: a finding is fixed or skipped inline with its reason."""
    result = checkov_scan.scan(table_synth.outdir / "stacks")
    assert result.passed > 100, "checkov scanned suspiciously little"
    assert result.failed == [], "\n".join(f"{c} {s} {r}" for s, r, c in result.failed)
    assert result.stale == [], f"skips that match no failure: {result.stale}"
    assert all(reason.strip() for *_, reason in result.skipped)


def _write_stack(root: Path, body: dict) -> Path:
    import json

    (root / "stacks" / "demo-dev").mkdir(parents=True)
    (root / "stacks" / "demo-dev" / "cdk.tf.json").write_text(
        json.dumps({"resource": {"aws_cloudwatch_log_group": {"Logs": body}}}, indent=2)
    )
    return root / "stacks"


def test_scanner_reports_unskipped_failures(tmp_path):
    result = checkov_scan.scan(_write_stack(tmp_path, {"name": "x", "retention_in_days": 7}))
    assert ("demo-dev", "aws_cloudwatch_log_group.Logs", "CKV_AWS_158") in result.failed


def test_scanner_applies_inline_skips_and_flags_stale_ones(tmp_path):
    body = {
        "//": {
            "checkov_skip": [
                "checkov:skip=CKV_AWS_158: reason a",
                "checkov:skip=CKV_AWS_338: reason b",
                "checkov:skip=CKV_AWS_999: matches nothing",
            ]
        },
        "name": "x",
        "retention_in_days": 7,
    }
    result = checkov_scan.scan(_write_stack(tmp_path, body))
    assert result.failed == []
    assert {(c, reason) for *_, c, reason in result.skipped} == {
        ("CKV_AWS_158", "reason a"),
        ("CKV_AWS_338", "reason b"),
    }
    assert result.stale == [("demo-dev", "aws_cloudwatch_log_group.Logs", "CKV_AWS_999")]


def test_readme_lists_every_skip_with_its_reason(table_synth):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert checkov_scan.readme_block(table_synth.outdir / "stacks") in readme, (
        "README checkov skip list is stale: run `make docs` and commit"
    )
