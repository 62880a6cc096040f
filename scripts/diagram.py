"""Draw the architecture of one environment as Mermaid, from the synthesized JSON itself.

Nodes are the architecturally interesting resource types of each stack (with counts); edges are
the references between them, including cross-stack references through remote state. README.md
carries the output between the `diagram` markers; `make docs` refreshes it and a test keeps it
in step with the code.

Usage: python scripts/diagram.py [cdktf.out/stacks] [--env ENV] [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from scripts.synth_out import replace_readme_block  # noqa: E402

SHOWN = (
    "aws_vpc",
    "aws_subnet",
    "aws_nat_gateway",
    "aws_internet_gateway",
    "aws_flow_log",
    "aws_vpc_endpoint",
    "aws_launch_template",
    "aws_autoscaling_group",
    "aws_ecs_capacity_provider",
    "aws_ecs_cluster",
    "aws_ecs_cluster_capacity_providers",
    "aws_lb",
    "aws_lb_listener",
    "aws_lb_target_group",
    "aws_ecs_service",
    "aws_ecs_task_definition",
    "aws_appautoscaling_target",
    "aws_appautoscaling_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_service_discovery_service",
    "aws_service_discovery_private_dns_namespace",
    "aws_ecr_repository",
    "aws_kms_key",
    "aws_secretsmanager_secret",
    "aws_appconfig_application",
    "aws_appconfig_environment",
    "aws_appconfig_configuration_profile",
    "aws_cloudtrail",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_event_target",
    "aws_sqs_queue",
)
"""Resource types drawn; IAM, policies, routes and other glue would drown the picture."""
STACK_ORDER = ("network", "cluster", "config", "registry", "services")
MARK_START, MARK_END = "<!-- diagram:start -->", "<!-- diagram:end -->"
ADDRESS = re.compile(r"(?<![\w.])(aws_[a-z0-9_]+)\.([\w-]+)")
REMOTE = re.compile(r"data\.terraform_remote_state\.[\w-]+\.outputs\.([\w-]+)")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _targets(
    value: Any, outputs_by_name: Mapping[str, set[tuple[str, str]]]
) -> set[tuple[str | None, str]]:
    """(stack kind, resource type) pairs a resource body refers to (kind None: its own stack)."""
    found: set[tuple[str | None, str]] = set()
    for text in _strings(value):
        for rtype, _ in ADDRESS.findall(text):
            found.add((None, rtype))
        for output in REMOTE.findall(text):
            if output in outputs_by_name:
                found |= outputs_by_name[output]
    return found


def mermaid(stacks_dir: Path, env: str) -> str:
    """A Mermaid flowchart of `env`'s stacks."""
    docs = {}
    for kind in STACK_ORDER:
        path = stacks_dir / f"{kind}-{env}" / "cdk.tf.json"
        if path.exists():
            docs[kind] = json.loads(path.read_text())
    outputs_by_name: dict[str, set[tuple[str, str]]] = {}
    for kind, doc in docs.items():
        for name, out in doc.get("output", {}).items():
            outputs_by_name[name] = {(kind, t) for t, _ in ADDRESS.findall(json.dumps(out))}
    lines = ["flowchart LR"]
    edges: set[tuple[str, str]] = set()

    def node(kind: str, rtype: str) -> str:
        return f"{kind}_{rtype.removeprefix('aws_')}"

    for kind, doc in docs.items():
        resources = doc.get("resource", {})
        lines.append(f'  subgraph {kind}_{env}["{kind}-{env}"]')
        for rtype in SHOWN:
            if rtype in resources:
                count = len(resources[rtype])
                label = rtype.removeprefix("aws_") + (f" x{count}" if count > 1 else "")
                lines.append(f'    {node(kind, rtype)}["{label}"]')
        lines.append("  end")
        for rtype in SHOWN:
            for body in resources.get(rtype, {}).values():
                for target_kind, target_type in _targets(body, outputs_by_name):
                    target_kind = target_kind or kind
                    if (
                        target_type in SHOWN
                        and target_type in docs[target_kind].get("resource", {})
                        and (target_kind, target_type) != (kind, rtype)
                    ):
                        edges.add((node(kind, rtype), node(target_kind, target_type)))
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    return "\n".join(lines) + "\n"


def readme_block(diagram: str, env: str) -> str:
    return (
        f"{MARK_START}\n_Generated from `cdktf.out` for `{env}` by `make docs`; "
        f"arrows point from a resource to what it references._\n\n```mermaid\n{diagram}```\n"
        f"{MARK_END}"
    )


def default_env() -> str:
    """The first env of the user's table: the one README draws."""
    from main import load_table

    return load_table()[0].name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stacks_dir", nargs="?", default="cdktf.out/stacks", type=Path)
    parser.add_argument(
        "--env", default=None, help="env to draw (default: the first of settings/environments.py)"
    )
    parser.add_argument("--readme", type=Path, help="rewrite the diagram block in this file")
    args = parser.parse_args(argv)
    if args.env is None:
        args.env = default_env()
    diagram = mermaid(args.stacks_dir, args.env)
    if args.readme:
        print(
            replace_readme_block(args.readme, MARK_START, MARK_END, readme_block(diagram, args.env))
        )
    else:
        sys.stdout.write(diagram)
    return 0


if __name__ == "__main__":
    sys.exit(main())
