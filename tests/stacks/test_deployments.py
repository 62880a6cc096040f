"""Deployment strategies: rolling, and ECS-native blue/green, canary and linear on the ALB."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from settings.services import (
    DEFAULT_BAKE_MINUTES,
    CanaryShift,
    DeploymentSpec,
    LifecycleHook,
    LinearShift,
    LoadBalancerSpec,
    Rollout,
    ServiceSpec,
    TestListener,
)
from settings.validation import validate
from tests.synth_helpers import SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
ENV_SERVICES = [(e.name, s.name) for e in ENVIRONMENTS for s in e.services]
SHIFTING = [
    (e.name, s.name) for e in ENVIRONMENTS for s in e.services if s.deployment.shifts_traffic
]
INFRASTRUCTURE_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
HOOK = "arn:aws:lambda:us-west-2:111111111111:function:dev-web-smoke-test"


def _by_name(stack, rtype, name, key="name"):
    found = [(k, v) for k, v in stack.resources(rtype).items() if v.get(key) == name]
    assert len(found) == 1, f"{stack.name}: {rtype} named {name!r}: {found}"
    return found[0]


def _rule_for(stack, rule_ref):
    (rule,) = [
        v
        for k, v in stack.resources("aws_lb_listener_rule").items()
        if stack.ref("aws_lb_listener_rule", k, "arn") == rule_ref
    ]
    return rule


def _shifted_groups(stack, env, service):
    primary, _ = _by_name(stack, "aws_lb_target_group", f"{env}-{service}")
    alternate, _ = _by_name(stack, "aws_lb_target_group", f"{env}-{service}-alt")
    return (
        stack.ref("aws_lb_target_group", primary, "arn"),
        stack.ref("aws_lb_target_group", alternate, "arn"),
    )


def _weighted(live, idle):
    return [
        {
            "type": "forward",
            "forward": {"target_group": [{"arn": live, "weight": 100}, {"arn": idle, "weight": 0}]},
        }
    ]


def test_the_shipped_table_rolls_dev_and_shifts_web_in_staging_and_prod():
    strategies = {(e, s): ENVS[e].service(s).deployment.strategy for e, s in ENV_SERVICES}
    assert strategies == {
        ("dev", "web"): Rollout.ROLLING,
        ("dev", "worker"): Rollout.ROLLING,
        ("staging", "web"): Rollout.BLUE_GREEN,
        ("staging", "worker"): Rollout.ROLLING,
        ("prod", "web"): Rollout.CANARY,
        ("prod", "worker"): Rollout.ROLLING,
    }


@pytest.mark.parametrize(("env", "service"), ENV_SERVICES)
def test_each_service_deploys_with_its_strategy(synth, env, service):
    d = ENVS[env].service(service).deployment
    stack = synth.stack(f"services-{env}")
    _, svc = _by_name(stack, "aws_ecs_service", f"{env}-{service}")
    if not d.shifts_traffic:
        assert "deployment_configuration" not in svc and "deployment_controller" not in svc
        assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
        return
    config = svc["deployment_configuration"]
    assert svc["deployment_controller"] == {"type": "ECS"}
    assert config["strategy"] == d.strategy.value
    assert config["bake_time_in_minutes"] == str(d.bake_minutes or DEFAULT_BAKE_MINUTES)
    if d.strategy is Rollout.CANARY:
        canary = d.canary or CanaryShift()
        assert config["canary_configuration"] == {
            "canary_percent": canary.percent,
            "canary_bake_time_in_minutes": str(canary.bake_minutes),
        }
    else:
        assert "canary_configuration" not in config
    assert "linear_configuration" not in config and "lifecycle_hook" not in config


@pytest.mark.parametrize(("env", "service"), SHIFTING)
def test_traffic_shifting_service_gets_an_alternate_group_a_weighted_rule_and_the_role(
    synth, env, service
):
    stack = synth.stack(f"services-{env}")
    spec = ENVS[env].service(service)
    live, idle = _shifted_groups(stack, env, service)
    groups = {
        stack.ref("aws_lb_target_group", k, "arn"): v
        for k, v in stack.resources("aws_lb_target_group").items()
    }
    same = ("port", "protocol", "target_type", "vpc_id", "health_check", "deregistration_delay")
    assert {k: groups[idle][k] for k in same} == {k: groups[live][k] for k in same}
    _, svc = _by_name(stack, "aws_ecs_service", f"{env}-{service}")
    (attachment,) = svc["load_balancer"]
    assert attachment["target_group_arn"] == live
    advanced = attachment["advanced_configuration"]
    assert advanced["alternate_target_group_arn"] == idle
    assert "test_listener_rule" not in advanced  # no test listener in the shipped table
    # The production rule: a rule (ECS cannot reweight a listener's default action) on the
    # main listener, forwarding to both groups, all traffic on the primary, and its actions
    # left to ECS after creation.
    rule = _rule_for(stack, advanced["production_listener_rule"])
    main = "HTTPS" if ENVS[env].services_settings.https else "HTTP"
    (listener_id,) = [
        k for k, v in stack.resources("aws_lb_listener").items() if v["protocol"] == main
    ]
    assert rule["listener_arn"] == stack.ref("aws_lb_listener", listener_id, "arn")
    assert rule["action"] == _weighted(live, idle)
    assert rule["lifecycle"] == {"ignore_changes": ["action"]}
    if ENVS[env].services[0].name == service:  # the default service: every path
        assert rule["condition"] == [{"path_pattern": {"values": ["/*"]}}]
        assert rule["priority"] == 50000, "after every path rule"
    # The role ECS assumes for it: the documented trust, the documented managed policy.
    ((role_id, role),) = [
        (k, v)
        for k, v in stack.resources("aws_iam_role").items()
        if stack.ref("aws_iam_role", k, "arn") == advanced["role_arn"]
    ]
    assert role["name"] == f"{env}-platform-alb-ecs-shift"
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    ((grant_id, grant),) = [
        (k, v)
        for k, v in stack.resources("aws_iam_role_policy_attachment").items()
        if v["role"] == stack.ref("aws_iam_role", role_id, "name")
    ]
    assert grant["policy_arn"] == INFRASTRUCTURE_POLICY
    assert {
        f"aws_iam_role_policy_attachment.{grant_id}",
        f"aws_lb_listener_rule.{_rule_id(stack, advanced['production_listener_rule'])}",
    } <= (set(svc["depends_on"]))
    assert spec.load_balancer is not None


def _rule_id(stack, rule_ref):
    return rule_ref.split(".")[1]


@pytest.mark.parametrize("env", ENVS)
def test_rolling_envs_have_no_traffic_shifting_resources(synth, env):
    if any(s.deployment.shifts_traffic for s in ENVS[env].services):
        pytest.skip("this env shifts traffic")
    stack = synth.stack(f"services-{env}")
    assert not [
        g for g in stack.resources("aws_lb_target_group").values() if g["name"].endswith("-alt")
    ]
    assert not [
        r for r in stack.resources("aws_iam_role").values() if r["name"].endswith("-ecs-shift")
    ]


# --- the other strategies and options, on a dev variant --------------------------------------

API = ServiceSpec(
    name="api",
    image="public.ecr.aws/nginx/nginx:1.27",
    cpu=256,
    memory=512,
    container_port=9000,
    health_check_path="/ready",
    load_balancer=LoadBalancerSpec(),
    deployment=DeploymentSpec(strategy=Rollout.BLUE_GREEN, bake_minutes=0),
)
LINEAR = DeploymentSpec(
    strategy=Rollout.LINEAR,
    bake_minutes=3,
    linear=LinearShift(step_percent=20.0, step_bake_minutes=2),
    test_listener=TestListener(port=8081, allowed_cidrs=("10.0.0.0/8", "192.0.2.0/24")),
    lifecycle_hooks=(
        LifecycleHook(HOOK, ("POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")),
    ),
)


@pytest.fixture(scope="module")
def variant(synth, tmp_path_factory) -> SynthOutput:
    """dev with web deployed LINEAR (test listener, lifecycle hook) and a blue/green `api`
    behind a path rule, synthesized by main.build_app."""
    from main import build_app

    dev = ENVS["dev"]
    web, worker = dev.services
    env = validate(
        replace(
            dev,
            services=(web.with_(deployment=LINEAR), worker, API),
            cluster=replace(dev.cluster, asg_max=4),  # room for api's tasks
            # worker calls web: a shifting web needs its calls shifted by Service Connect.
            services_settings=replace(dev.services_settings, service_connect=True),
        )
    )
    outdir = tmp_path_factory.mktemp("deployments")
    build_app([env], str(outdir)).synth()
    return SynthOutput(outdir)


def test_linear_deployment_shifts_in_steps_with_hooks(variant):
    stack = variant.stack("services-dev")
    _, web = _by_name(stack, "aws_ecs_service", "dev-web")
    config = web["deployment_configuration"]
    assert (config["strategy"], config["bake_time_in_minutes"]) == ("LINEAR", "3")
    assert config["linear_configuration"] == {"step_percent": 20, "step_bake_time_in_minutes": "2"}
    # The hook list reaches Terraform as blocks (a list of blocks in a plain dict would not).
    (hook,) = config["lifecycle_hook"]
    assert hook["hook_target_arn"] == HOOK
    assert hook["lifecycle_stages"] == ["POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"]
    role_id, role = _by_name(stack, "aws_iam_role", "dev-web-deploy-hooks")
    assert hook["role_arn"] == stack.ref("aws_iam_role", role_id, "arn")
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    ((policy_id, policy),) = [
        (k, v)
        for k, v in stack.resources("aws_iam_role_policy").items()
        if v["role"] == stack.ref("aws_iam_role", role_id, "id")
    ]
    assert json.loads(policy["policy"])["Statement"] == [
        {
            "Sid": "InvokeLifecycleHooks",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [HOOK],
        }
    ]
    assert f"aws_iam_role_policy.{policy_id}" in web["depends_on"]


def test_test_listener_serves_the_alternate_group_to_its_cidrs_only(variant):
    stack = variant.stack("services-dev")
    live, idle = _shifted_groups(stack, "dev", "web")
    _, web = _by_name(stack, "aws_ecs_service", "dev-web")
    advanced = web["load_balancer"][0]["advanced_configuration"]
    test_rule = _rule_for(stack, advanced["test_listener_rule"])
    listener_id, listener = _by_name(stack, "aws_lb_listener", 8081, key="port")
    assert test_rule["listener_arn"] == stack.ref("aws_lb_listener", listener_id, "arn")
    assert listener["protocol"] == "HTTP"  # dev has no certificate
    assert test_rule["action"] == [{"type": "forward", "target_group_arn": idle}]
    assert test_rule["condition"] == [{"path_pattern": {"values": ["/*"]}}]
    assert test_rule["lifecycle"] == {"ignore_changes": ["action"]}
    # Forward-only listener: ECS refuses listeners mixing forward and other action types.
    assert listener["default_action"] == [{"type": "forward", "target_group_arn": idle}]
    alb_sg, _ = _by_name(stack, "aws_security_group", "dev-platform-alb")
    test_ingress = sorted(
        r.get("cidr_ipv4")
        for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if r["security_group_id"] == stack.ref("aws_security_group", alb_sg, "id")
        and r["from_port"] == 8081
    )
    assert test_ingress == ["10.0.0.0/8", "192.0.2.0/24"]
    assert f"aws_lb_listener.{listener_id}" in web["depends_on"]
    assert live != idle


def test_a_second_shifting_service_shifts_on_its_path_rule(variant):
    stack = variant.stack("services-dev")
    live, idle = _shifted_groups(stack, "dev", "api")
    _, api = _by_name(stack, "aws_ecs_service", "dev-api")
    assert api["deployment_configuration"] == {
        "strategy": "BLUE_GREEN",
        "bake_time_in_minutes": "0",
    }
    rule = _rule_for(
        stack, api["load_balancer"][0]["advanced_configuration"]["production_listener_rule"]
    )
    assert rule["condition"] == [{"path_pattern": {"values": ["/api", "/api/*"]}}]
    assert rule["priority"] < 50000
    assert rule["action"] == _weighted(live, idle)
    # One role for the whole ALB, whoever shifts on it.
    roles = [
        r for r in stack.resources("aws_iam_role").values() if r["name"].endswith("-ecs-shift")
    ]
    assert len(roles) == 1
