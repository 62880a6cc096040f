"""Invariants that hold for any valid environment table: each takes a synth (and the table it
came from) and returns the problems it finds, an empty list when all is well.

Generic on purpose: they iterate over whatever resources and stacks exist, so resources other
work adds (new stacks, functions, queues) are covered without editing them. Used on the user's
table (tests/invariants/test_table.py) and on random tables (test_random_tables.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from scripts.synth_out import policy_statements
from settings.schema import EnvironmentSettings
from tests.synth_helpers import SynthOutput, references

ADDRESS = re.compile(
    r"(?<![\w.])(data\.terraform_remote_state\.[\w-]+\.outputs\.[\w-]+"
    r"|data\.[a-z0-9_]+\.[\w-]+|aws_[a-z0-9_]+\.[\w-]+|var\.[\w-]+|local\.[\w-]+)"
)
BUILTINS = {"terraform.workspace"}
NAME_LIMITS = {
    "aws_lb": 32,
    "aws_lb_target_group": 32,
    "aws_iam_role": 64,
    "aws_iam_policy": 128,
    "aws_sqs_queue": 80,
    "aws_sns_topic": 256,
    "aws_lambda_function": 64,
    "aws_ecs_service": 255,
    "aws_ecs_cluster": 255,
    "aws_security_group": 255,
    "aws_cloudwatch_log_group": 512,
    "aws_s3_bucket": 63,
    "aws_autoscaling_group": 255,
    "aws_kinesis_firehose_delivery_stream": 64,
    "aws_cloudwatch_metric_alarm": 255,
    "aws_secretsmanager_secret": 512,
    "aws_service_discovery_service": 127,
}
"""AWS name limits per resource type (each service's API reference, `Name` constraints)."""
OPEN = ("0.0.0.0/0", "::/0")


def state_key(doc: dict[str, Any]) -> tuple[str, str, str]:
    backend = doc["terraform"].get("backend", {})
    if "s3" in backend:
        return ("s3", backend["s3"]["bucket"], backend["s3"]["key"])
    cloud = doc["terraform"]["cloud"]
    return ("cloud", cloud["organization"], cloud["workspaces"]["name"])


def _addresses(doc: dict[str, Any]) -> Iterator[str]:
    for section in ("resource", "data", "output", "locals", "provider", "module"):
        for expression in references(doc.get(section, {})):
            if expression not in BUILTINS:
                yield from ADDRESS.findall(expression)


def _remote_problem(
    synth: SynthOutput, name: str, parts: list[str], by_key: dict[tuple[str, str, str], str]
) -> str | None:
    state = synth.stack(name).doc["data"]["terraform_remote_state"][parts[2]]
    config = state["config"]
    producer = by_key.get(("s3", config.get("bucket", ""), config.get("key", "")))
    if producer is None or producer == name:
        return f"{name}: {'.'.join(parts)} reads a state no other stack writes"
    if parts[4] not in synth.stack(producer).doc.get("output", {}):
        return f"{name}: {'.'.join(parts)} consumes an output {producer} does not produce"
    return None


def reference_problems(synth: SynthOutput) -> list[str]:
    """Every `${...}` points at a resource, data source, local, variable or remote output
    that exists; no two stacks share a state; cross-stack reads stay within one env."""
    by_key = {state_key(synth.stack(n).doc): n for n in synth.stack_names}
    problems = [] if len(by_key) == len(synth.stack_names) else ["two stacks share a state"]
    for name in synth.stack_names:
        doc = synth.stack(name).doc
        for address in _addresses(doc):
            parts = address.split(".")
            if parts[:2] == ["data", "terraform_remote_state"]:
                problem = _remote_problem(synth, name, parts, by_key)
            elif parts[0] == "data":
                problem = None if parts[2] in doc.get("data", {}).get(parts[1], {}) else address
            elif parts[0] in ("var", "local"):
                section = "variable" if parts[0] == "var" else "locals"
                problem = None if parts[1] in doc.get(section, {}) else address
            else:
                problem = None if parts[1] in doc.get("resource", {}).get(parts[0], {}) else address
            if problem:
                problems.append(f"{name}: unresolved {problem}")
        env = name.rsplit("-", 1)[1]
        for state in synth.stack(name).data("terraform_remote_state").values():
            if f"/{env}/" not in state["config"].get("key", f"/{env}/"):
                problems.append(f"{name} reads another env's state {state['config']['key']}")
    return problems


def wiring_problems(synth: SynthOutput, table: tuple[EnvironmentSettings, ...]) -> list[str]:
    """Every declared service runs as an ECS service with its task definition, behind the ALB
    when it asks for one, with its work queue and each of its secrets."""
    problems = []
    for env in table:
        docs = {n: synth.stack(n).doc for n in synth.stack_names if n.endswith(f"-{env.name}")}
        if f"services-{env.name}" not in docs:
            problems.append(f"{env.name}: no services stack")
            continue
        res = _by_type(docs.values())
        services = {b.get("name"): b for b in res.get("aws_ecs_service", [])}
        queues = {b.get("name") for b in res.get("aws_sqs_queue", [])}
        secrets = {b.get("name") for b in res.get("aws_secretsmanager_secret", [])}
        for spec in env.services:
            name = f"{env.name}-{spec.name}"
            body = services.get(name)
            if body is None:
                problems.append(f"{name}: no aws_ecs_service")
                continue
            if "aws_ecs_task_definition." not in str(body.get("task_definition")):
                problems.append(f"{name}: no task definition reference")
            if (spec.load_balancer is not None) != bool(body.get("load_balancer")):
                problems.append(f"{name}: load balancer wiring differs from the spec")
            if spec.work_queue and f"{name}-jobs" not in queues:
                problems.append(f"{name}: no work queue")
            problems += [
                f"{name}: no secret {s}"
                for s in spec.secrets
                if f"/{env.name}/{spec.name}/{s}" not in secrets
            ]
    return problems


def _by_type(docs: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for rtype, bodies in doc.get("resource", {}).items():
            found.setdefault(rtype, []).extend(bodies.values())
    return found


def name_problems(synth: SynthOutput) -> list[str]:
    """Literal names within AWS limits, for every resource of a type with a known limit."""
    problems = []
    for stack in synth.stack_names:
        for rtype, bodies in synth.stack(stack).doc.get("resource", {}).items():
            limit = NAME_LIMITS.get(rtype)
            for logical, body in bodies.items():
                name = body.get("name")
                if limit and isinstance(name, str) and "${" not in name and len(name) > limit:
                    problems.append(f"{stack}: {rtype}.{logical} name {name!r} > {limit}")
    return problems


def exposure_problems(synth: SynthOutput) -> list[str]:
    """Nothing but the ALB's security group admits the internet; no policy grants `*`."""
    problems = []
    for stack in synth.stack_names:
        doc = synth.stack(stack).doc
        for logical, rule in (
            doc.get("resource", {}).get("aws_vpc_security_group_ingress_rule", {}).items()
        ):
            cidr = rule.get("cidr_ipv4") or rule.get("cidr_ipv6")
            if cidr in OPEN and "LoadBalancer" not in str(rule.get("security_group_id")):
                problems.append(f"{stack}: {logical} admits {cidr} to a non-ALB group")
        for logical, group in doc.get("resource", {}).get("aws_security_group", {}).items():
            for rule in group.get("ingress") or []:
                if set(rule.get("cidr_blocks") or []) & set(OPEN):
                    problems.append(f"{stack}: {logical} has an open inline ingress")
        for _, where, _, statement in policy_statements(doc):
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if statement.get("Effect") == "Allow" and (action == "*" or action.endswith(":*")):
                    problems.append(f"{stack}: {where} allows {action}")
    return problems


def all_problems(synth: SynthOutput, table: tuple[EnvironmentSettings, ...]) -> list[str]:
    """Every invariant above (checkov runs separately: it is the slow one)."""
    return (
        reference_problems(synth)
        + wiring_problems(synth, table)
        + name_problems(synth)
        + exposure_problems(synth)
    )


def dumps(problems: list[str]) -> str:
    return json.dumps(problems, indent=1)
