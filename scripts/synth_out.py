"""What the scripts that read `cdktf.out` share: load the stacks, walk resources, README blocks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def load_stacks(stacks_dir: Path) -> dict[str, dict[str, Any]]:
    """{stack name: parsed cdk.tf.json} for every stack under `stacks_dir`, sorted by name."""
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted(Path(stacks_dir).glob("*/cdk.tf.json"))
    }


def resources(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, logical id, body) of every resource in one stack."""
    for rtype, by_name in doc.get("resource", {}).items():
        for name, body in by_name.items():
            yield rtype, name, body


def replace_readme_block(readme: Path, start_marker: str, end_marker: str, block: str) -> str:
    """Rewrite the part of `readme` from `start_marker` to `end_marker` (both kept in `block`).

    Writes only on a change and says which happened ("updated X" / "X up to date"), so `make
    docs` reports what it did and leaves an unchanged file (and its mtime) alone.
    """
    text = readme.read_text()
    start, end = text.index(start_marker), text.index(end_marker) + len(end_marker)
    new_text = text[:start] + block + text[end:]
    if new_text == text:
        return f"{readme} up to date"
    readme.write_text(new_text)
    return f"updated {readme}"


POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_sqs_queue_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_kms_key": "policy",
}
"""Resource types carrying a JSON policy document, and the attribute that holds it."""


def policy_statements(doc: dict[str, Any]) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """(type, logical id, index, statement) of every statement of every policy document.

    Documents built with Terraform functions (not JSON at synth) are skipped.
    """
    for rtype, attr in POLICY_ATTRIBUTES.items():
        for name, body in doc.get("resource", {}).get(rtype, {}).items():
            try:
                policy = json.loads(body[attr])
            except (KeyError, TypeError, ValueError):
                continue
            statements = policy.get("Statement", [])
            for i, statement in enumerate(
                statements if isinstance(statements, list) else [statements]
            ):
                yield rtype, name, i, statement
