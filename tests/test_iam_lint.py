"""Every IAM action in every policy exists, and no scoped statement names an unscopable action."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN_PYTHON = ROOT / ".venv-scan" / "bin" / "python"


def _lint(stacks: Path) -> dict:
    assert SCAN_PYTHON.exists(), "checkov venv missing: run `make scan-venv`"
    proc = subprocess.run(
        [str(SCAN_PYTHON), str(ROOT / "scripts" / "iam_lint.py"), str(stacks)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_synthesized_policies_use_real_actions_scoped_only_where_iam_allows(table_synth):
    report = _lint(table_synth.outdir / "stacks")
    assert report["statements"] > 100
    assert report["findings"] == []


def test_lint_catches_unknown_and_unscopable_actions(tmp_path):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sns:Unsubscribe"], "Resource": ["arn:aws:sns:x:1:t:*"]},
            {"Effect": "Allow", "Action": ["sqs:ReceiveMesage"], "Resource": ["arn:aws:sqs:x:1:q"]},
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage"],
                "Resource": ["arn:aws:sqs:x:1:q"],
            },
        ],
    }
    stack = tmp_path / "demo-dev"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text(
        json.dumps({"resource": {"aws_iam_role_policy": {"P": {"policy": json.dumps(policy)}}}})
    )
    findings = _lint(tmp_path)["findings"]
    assert len(findings) == 2
    assert "sns:Unsubscribe supports no resource-level permissions" in findings[0]
    assert "unknown action sqs:ReceiveMesage" in findings[1]
