"""The shared ALB as a construct: which target sets it refuses, and the metric dimensions it
hands alarms, autoscaling and the dashboard."""

from __future__ import annotations

import pytest

from settings.services import TestListener


def _target(name: str = "web", alternate: bool = False, test_port: int | None = None):
    from modules.load_balancer import AlbTarget

    return AlbTarget(
        name=name,
        target_group_name=f"dev-{name}",
        port=8080,
        health_check_path="/health",
        alternate_target_group_name=f"dev-{name}-alt" if alternate else None,
        test_listener=(
            TestListener(port=test_port, allowed_cidrs=("10.0.0.0/8",)) if test_port else None
        ),
    )


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ((), "at least one target service"),
        ((_target(), _target()), "duplicate ALB targets"),
        ((_target(alternate=True, test_port=9000), _target("api", True, 9000)), "must be distinct"),
        ((_target(alternate=True, test_port=443),), "must be distinct and not"),
        ((_target(test_port=9000),), "a test listener needs an alternate target group"),
    ],
)
def test_target_sets_one_alb_cannot_serve_are_refused(targets, message):
    from modules.load_balancer import targets_problem

    assert message in targets_problem(targets)


def test_a_valid_target_set_has_no_problem():
    from modules.load_balancer import targets_problem

    assert targets_problem((_target(alternate=True, test_port=9000), _target("api"))) is None


def test_metrics_name_both_target_groups_of_a_traffic_shifting_service(tmp_path):
    from engine.core import App, TerraformStack
    from modules.load_balancer import LoadBalancer, LoadBalancerProps

    stack = TerraformStack(App(outdir=str(tmp_path)), "alb")
    lb = LoadBalancer(
        stack,
        "LoadBalancer",
        LoadBalancerProps(
            name="dev-platform-alb",
            vpc_id="vpc-1",
            subnet_ids=["subnet-1", "subnet-2"],
            targets=(_target(alternate=True), _target("api")),
        ),
    )
    assert len(lb.metrics("web").target_groups) == 2
    assert len(lb.metrics("api").target_groups) == 1
    assert lb.metrics("api").load_balancer == lb.arn_suffix
