"""The invariants hold for the table the user has (settings/environments.py), whatever it
holds: every service wired, references resolved, names within limits, nothing public beyond
the ALB, no wildcard grants (tests/invariants/checks.py); checkov and IAM lint run in
tests/test_checkov.py and tests/test_iam_lint.py over the same synth."""

from __future__ import annotations

from main import load_table
from tests.invariants import checks


def test_the_users_table_meets_every_invariant(table_synth):
    problems = checks.all_problems(table_synth, load_table())
    assert problems == [], checks.dumps(problems)


def test_the_checks_find_what_they_look_for(synth):
    """Each check fails on a broken copy of a good synth (so a pass means something)."""
    import copy

    from tests.tables import SAMPLE

    dev = next(e for e in SAMPLE if e.name == "dev")
    extra = dev.services[1].with_(name="ghost")
    missing = checks.wiring_problems(
        synth,
        (
            dev.__class__(
                **{
                    **{f: getattr(dev, f) for f in dev.__dataclass_fields__},
                    "services": (*dev.services, extra),
                }
            ),
        ),
    )
    assert missing == ["dev-ghost: no aws_ecs_service"]
    stack = synth.stack("services-dev")
    saved = copy.deepcopy(stack.doc)
    try:
        (rule,) = [
            r
            for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
            if r.get("referenced_security_group_id")
        ][:1]
        rule["cidr_ipv4"], rule["security_group_id"] = "0.0.0.0/0", "sg-tasks"
        stack.doc["resource"]["aws_lb"] = {"Alb": {"name": "x" * 33}}
        stack.doc["output"] = {
            **stack.doc.get("output", {}),
            "o": {"value": "${aws_sqs_queue.Nope.arn}"},
        }
        problems = checks.all_problems(synth, ())
        assert any("admits 0.0.0.0/0 to a non-ALB group" in p for p in problems), problems
        assert any("aws_lb.Alb name" in p for p in problems), problems
        assert any("unresolved aws_sqs_queue.Nope" in p for p in problems), problems
    finally:
        stack.doc.clear()
        stack.doc.update(saved)
