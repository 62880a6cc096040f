"""checkov's CKV_AWS_260 ("no ingress from 0.0.0.0/0 to port 80") fires on a rule whose source
is a security group (issue 21): the skip goes on exactly those rules, with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import checkov_scan


def _stack(tmp_path: Path, port: int) -> tuple[Path, dict]:
    from engine.aws.provider import AwsProvider
    from engine.aws.security_group import SecurityGroup
    from engine.core import App, TerraformStack
    from modules.ecs_service.security_groups import ingress_from

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "sg-dev")
    AwsProvider(stack, "aws", region="us-west-2")
    alb = SecurityGroup(stack, "Alb", name="alb", description="alb", vpc_id="vpc-1")
    tasks = SecurityGroup(stack, "Tasks", name="tasks", description="tasks", vpc_id="vpc-1")
    ingress_from(stack, "IngressFromAlb", tasks.id, alb.id, port, f"port {port} from the ALB")
    app.synth()
    stacks = tmp_path / "out" / "stacks"
    doc = json.loads((stacks / "sg-dev" / "cdk.tf.json").read_text())
    (rule,) = doc["resource"]["aws_vpc_security_group_ingress_rule"].values()
    return stacks, rule


@pytest.mark.parametrize("port", [80, 8080])
def test_a_service_on_any_port_behind_the_alb_passes_checkov(tmp_path, port):
    stacks, rule = _stack(tmp_path, port)
    result = checkov_scan.scan(stacks)
    assert _rule_findings(result.failed) == [] and result.stale == []
    skips = rule.get("//", {}).get("checkov_skip", [])
    assert skips == ([f"checkov:skip=CKV_AWS_260: {SG_REASON}"] if port == 80 else [])


def test_without_the_skip_checkov_reports_the_false_positive(tmp_path):
    """The skip is needed (not stale): checkov flags an SG-sourced port-80 rule."""
    stacks, _ = _stack(tmp_path, 80)
    path = stacks / "sg-dev" / "cdk.tf.json"
    doc = json.loads(path.read_text())
    for rule in doc["resource"]["aws_vpc_security_group_ingress_rule"].values():
        rule.pop("//", None)
        assert "referenced_security_group_id" in rule and "cidr_ipv4" not in rule
    path.write_text(json.dumps(doc))
    failed = checkov_scan.scan(stacks).failed
    assert _rule_findings(failed) == ["CKV_AWS_260"]


def _rule_findings(failed: list[tuple[str, str, str]]) -> list[str]:
    """Checks failed by the ingress rule (the bare SGs of this stack fail others, unused)."""
    return [
        check
        for _, resource, check in failed
        if resource.startswith("aws_vpc_security_group_ingress_rule.")
    ]


from modules.ecs_service.security_groups import SG_SOURCE_HTTP_REASON as SG_REASON  # noqa: E402
