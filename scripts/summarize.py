"""A compact, reviewable summary of synthesized infrastructure: counts and security properties.

The checked-in `tests/golden/summary.json` is this script's output; `make golden` rewrites it
after an intended change, and the golden test shows the diff for an unintended one.

Usage: python scripts/summarize.py [cdktf.out/stacks] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from scripts.synth_out import load_stacks, policy_statements  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "summary.json"


def _all(doc: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(rtype, {}).values())


def security_properties(doc: dict[str, Any]) -> dict[str, Any]:
    """Properties a reviewer cares about; only keys that apply to this stack are present."""
    props: dict[str, Any] = {}
    if lts := _all(doc, "aws_launch_template"):
        props["imdsv2_required"] = all(
            lt["metadata_options"]["http_tokens"] == "required" for lt in lts
        )
        props["root_volumes_encrypted"] = all(
            b["ebs"]["encrypted"] == "true" for lt in lts for b in lt["block_device_mappings"]
        )
        props["instance_public_ip"] = any(
            n.get("associate_public_ip_address") == "true"
            for lt in lts
            for n in lt.get("network_interfaces", [])
        )
    if queues := _all(doc, "aws_sqs_queue"):
        props["queues_encrypted"] = all(
            "kms_master_key_id" in q or q.get("sqs_managed_sse_enabled") for q in queues
        )
    if buckets := _all(doc, "aws_s3_bucket"):
        blocks = _all(doc, "aws_s3_bucket_public_access_block")
        props["buckets_public_access_blocked"] = len(blocks) == len(buckets) and all(
            b["block_public_acls"]
            and b["block_public_policy"]
            and b["ignore_public_acls"]
            and b["restrict_public_buckets"]
            for b in blocks
        )
    if secrets := _all(doc, "aws_secretsmanager_secret"):
        props["secrets_cmk_encrypted"] = all("kms_key_id" in s for s in secrets)
    if keys := _all(doc, "aws_kms_key"):
        props["kms_rotation"] = all(k.get("enable_key_rotation") for k in keys)
    if trails := _all(doc, "aws_cloudtrail"):
        props["trail_log_validation"] = all(t.get("enable_log_file_validation") for t in trails)
    if lbs := _all(doc, "aws_lb"):
        props["load_balancers"] = sorted(
            f"{'internal' if lb.get('internal') else 'internet-facing'}"
            f"{', drops invalid headers' if lb.get('drop_invalid_header_fields') else ''}"
            for lb in lbs
        )
    open_ingress = sorted(
        f"{r.get('ip_protocol')}/{r.get('from_port', 'all')}"
        for r in _all(doc, "aws_vpc_security_group_ingress_rule")
        if r.get("cidr_ipv4") == "0.0.0.0/0"
    )
    if open_ingress:
        props["ingress_from_anywhere"] = open_ingress
    statements = [statement for *_, statement in policy_statements(doc)]
    if statements:
        props["iam_wildcard_actions"] = sum(
            1
            for s in statements
            if s.get("Effect") == "Allow"
            for a in ([s["Action"]] if isinstance(s.get("Action"), str) else s.get("Action", []))
            if a == "*" or a.endswith(":*")
        )
    return props


def summarize(stacks_dir: Path) -> dict[str, Any]:
    """{env: {stack kind: {"resources": {type: count}, "security": {...}}}}."""
    summary: dict[str, Any] = {}
    for name, doc in load_stacks(stacks_dir).items():
        kind, env = name.rsplit("-", 1)
        summary.setdefault(env, {})[kind] = {
            "resources": {t: len(v) for t, v in sorted(doc.get("resource", {}).items())},
            "security": security_properties(doc),
        }
    return summary


def render(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stacks_dir", nargs="?", default="cdktf.out/stacks", type=Path)
    parser.add_argument("--write", type=Path, help="write the summary here (e.g. the golden)")
    args = parser.parse_args(argv)
    text = render(summarize(args.stacks_dir))
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
