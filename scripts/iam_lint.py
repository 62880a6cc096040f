"""Check every IAM policy in the synthesized stacks against AWS's IAM action database.

terraform validate is not available here and would not catch these anyway: an action that does
not exist, or a resource ARN on an action that only accepts "*" (IAM then never matches it, so
the call is denied at run time). Uses policy_sentry's bundled IAM database (installed with
checkov, so this runs in the checkov venv). Condition keys are not checked: that database lacks
many service-level keys (kms:ViaService, sns:Endpoint, s3:x-amz-acl), so it would cry wolf.

Usage: .venv-scan/bin/python scripts/iam_lint.py [cdktf.out/stacks]  (prints JSON findings)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from policy_sentry.querying.actions import get_action_data

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from scripts.synth_out import load_stacks, policy_statements  # noqa: E402

_cache: dict[str, list[dict[str, Any]]] = {}


def action_data(action: str) -> list[dict[str, Any]]:
    if action not in _cache:
        service, name = action.split(":", 1)
        _cache[action] = get_action_data(service.lower(), name.lower()).get(service.lower(), [])
    return _cache[action]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def lint_statement(where: str, statement: dict[str, Any]) -> list[str]:
    findings = []
    resources = _as_list(statement.get("Resource", "*"))
    scoped = any(r != "*" for r in resources)
    for action in _as_list(statement.get("Action", [])):
        if "*" in action:
            continue  # wildcards are reported by checkov and the golden summary
        rows = action_data(action)
        if not rows:
            findings.append(f"{where}: unknown action {action}")
            continue
        formats = {row["resource_arn_format"] for row in rows}
        if (
            scoped
            and statement.get("Effect") == "Allow"
            and "Principal" not in statement
            and formats == {"*"}
        ):
            findings.append(
                f"{where}: {action} supports no resource-level permissions; "
                f"a statement scoped to {resources} never matches it"
            )
    return findings


def lint(stacks_dir: Path) -> tuple[int, list[str]]:
    checked, findings = 0, []
    for stack, doc in load_stacks(stacks_dir).items():
        for rtype, name, i, statement in policy_statements(doc):
            checked += 1
            findings += lint_statement(f"{stack} {rtype}.{name} statement {i}", statement)
    return checked, findings


if __name__ == "__main__":
    count, problems = lint(Path(sys.argv[1] if len(sys.argv) > 1 else "cdktf.out/stacks"))
    print(json.dumps({"statements": count, "findings": problems}, indent=1))
    sys.exit(1 if problems else 0)
