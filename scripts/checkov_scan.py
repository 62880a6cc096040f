"""Run checkov over synthesized stacks and apply the inline skips recorded by cdktf.

Usage: python scripts/checkov_scan.py [cdktf.out/stacks] [--checkov PATH] [--list-skips]
Exit 1 when a check fails without a skip, or when a skip no longer matches a failure.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from scripts.synth_out import load_stacks, replace_readme_block, resources  # noqa: E402

SKIP = re.compile(r"^checkov:skip=([A-Z0-9_]+):\s*(\S.*)$")
DEFAULT_CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"


@dataclass
class ScanResult:
    """Checkov's verdicts after applying the inline skips."""

    passed: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str, str]] = field(default_factory=list)
    stale: list[tuple[str, str, str]] = field(default_factory=list)


def declared_skips(stacks: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """{(stack, "type.logical_id", check id): reason} from every resource's `//` block."""
    skips = {}
    for stack, doc in stacks.items():
        for rtype, name, body in resources(doc):
            for line in body.get("//", {}).get("checkov_skip", []):
                m = SKIP.match(line)
                if not m:
                    raise SystemExit(f"{stack} {rtype}.{name}: malformed skip {line!r}")
                skips[(stack, f"{rtype}.{name}", m.group(1))] = m.group(2)
    return skips


def resource_types(stacks: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """{(stack, logical id): "type.logical_id"} for every resource."""
    return {
        (stack, name): f"{rtype}.{name}"
        for stack, doc in stacks.items()
        for rtype, name, _ in resources(doc)
    }


def parseable_copy(stacks: dict[str, dict[str, Any]], into: Path) -> Path:
    """The stacks as checkov 3.3's terraform_json parser can read them.

    Its parser expects every attribute of the `terraform` block to be a block (a dict) and
    fails the whole file on `required_version`, a plain string (checked in its source:
    terraform_json/parser.py `hclify`). The version constraint holds nothing checkov checks,
    so the copy drops it; everything else is scanned as synthesized.
    """
    for stack, doc in stacks.items():
        terraform = {k: v for k, v in doc.get("terraform", {}).items() if k != "required_version"}
        (into / stack).mkdir(parents=True)
        (into / stack / "cdk.tf.json").write_text(json.dumps({**doc, "terraform": terraform}))
    return into


def run_checkov(stacks: dict[str, dict[str, Any]], checkov: Path) -> list[dict[str, Any]]:
    if not checkov.exists():
        raise SystemExit(f"checkov not found at {checkov}: run `make scan-venv`")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                str(checkov),
                "-d",
                str(parseable_copy(stacks, Path(tmp))),
                "--framework",
                "terraform_json",
                "--quiet",
                "--compact",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
        )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"checkov failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    return report if isinstance(report, list) else [report]


def scan(stacks_dir: Path, checkov: Path = DEFAULT_CHECKOV) -> ScanResult:
    """Checkov verdicts for every stack under `stacks_dir`, inline skips applied."""
    stacks = load_stacks(stacks_dir)
    skips = declared_skips(stacks)
    types = resource_types(stacks)
    result, used = ScanResult(), set()
    for report in run_checkov(stacks, checkov):
        results = report.get("results", {})
        result.passed += report.get("summary", {}).get("passed", 0)
        unparsed = results.get("parsing_errors") or report.get("summary", {}).get("parsing_errors")
        if unparsed:
            raise SystemExit(
                f"checkov could not parse {unparsed} stack file(s): nothing in them was checked"
            )
        for check in results.get("failed_checks", []):
            stack = Path(check["file_path"]).parent.name
            # terraform_json names a resource `resource.<logical id>`, without its type;
            # cdktf logical ids are unique within a stack, so the id alone identifies it.
            logical_id = check["resource"].removeprefix("resource.")
            resource = types.get((stack, logical_id), logical_id)
            key = (stack, resource, check["check_id"])
            if key in skips:
                used.add(key)
                result.skipped.append((*key, skips[key]))
            else:
                result.failed.append(key)
    result.stale = sorted(set(skips) - used)
    return result


SKIPS_START, SKIPS_END = "<!-- checkov-skips:start -->", "<!-- checkov-skips:end -->"


def skips_table(stacks_dir: Path) -> str:
    """Markdown table of every distinct (check, resource type, reason), with stack counts."""
    rows: dict[tuple[str, str, str], set[str]] = {}
    for (stack, resource, check), reason in declared_skips(load_stacks(stacks_dir)).items():
        rows.setdefault((check, resource.split(".")[0], reason), set()).add(stack)
    lines = ["| check | resource type | stacks | reason |", "|---|---|---|---|"]
    lines += [
        f"| {c} | `{t}` | {len(stacks)} | {reason} |"
        for (c, t, reason), stacks in sorted(rows.items())
    ]
    return "\n".join(lines)


def readme_block(stacks_dir: Path) -> str:
    return f"{SKIPS_START}\n{skips_table(stacks_dir)}\n{SKIPS_END}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stacks_dir", nargs="?", default="cdktf.out/stacks", type=Path)
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV)
    parser.add_argument(
        "--list-skips",
        action="store_true",
        help="print the markdown table of skips with their reasons",
    )
    parser.add_argument("--readme", type=Path, help="rewrite the skips table in this file")
    args = parser.parse_args(argv)
    if args.list_skips:
        print(skips_table(args.stacks_dir))
        return 0
    if args.readme:
        print(
            replace_readme_block(args.readme, SKIPS_START, SKIPS_END, readme_block(args.stacks_dir))
        )
        return 0
    result = scan(args.stacks_dir, args.checkov)
    print(
        f"checkov: {result.passed} passed, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped inline, {len(result.stale)} stale skips"
    )
    for stack, resource, check in result.failed:
        print(f"FAILED  {check}  {stack}  {resource}")
    for stack, resource, check in result.stale:
        print(f"STALE   {check}  {stack}  {resource} (skip matches no failure: remove it)")
    return 1 if result.failed or result.stale else 0


if __name__ == "__main__":
    sys.exit(main())
