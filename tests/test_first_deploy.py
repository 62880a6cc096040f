"""A first `terraform apply` of each env, in the README's order, reaches a steady state.

Each test guards one class of defect over every env's synthesized JSON: ordering between
resources that AWS (not Terraform) makes dependent, values the provider or AWS treat
differently from what they look like, and trust policies that AWS services really satisfy.
"""

from __future__ import annotations

import json
import re

import pytest

from modules.ec2_capacity import ECS_AMI_PARAMETERS
from settings.rules import instance_architecture
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}

DOCUMENTED_TRUST_CONDITIONS = {
    # Amazon ECS container instance IAM role: no condition (EC2 sends no source keys).
    "ec2.amazonaws.com": set(),
    # AppConfig rollback / extension roles: no condition in AWS's documented trust policy.
    "appconfig.amazonaws.com": set(),
    # ECS task and task execution roles: confused-deputy conditions documented by ECS.
    "ecs-tasks.amazonaws.com": {"aws:SourceAccount", "aws:SourceArn"},
    # ECS infrastructure role for load balancers and the lifecycle-hook role: no condition in
    # ECS's documented trust policies.
    "ecs.amazonaws.com": set(),
    # Lambda execution role (the config stack's orphan-queue reaper): no condition in Lambda's
    # documented trust policy (Lambda Developer Guide, "Lambda execution role").
    "lambda.amazonaws.com": set(),
    # VPC flow logs to CloudWatch Logs: confused-deputy conditions documented by VPC.
    "vpc-flow-logs.amazonaws.com": {"aws:SourceAccount", "aws:SourceArn"},
}


def _depends_on(resource: dict) -> set[str]:
    return set(resource.get("depends_on", []))


def _address(rtype: str, logical_id: str) -> str:
    return f"{rtype}.{logical_id}"


def _logical_id(reference: str) -> str:
    """`${aws_iam_role.X.arn}` -> `X`."""
    match = re.fullmatch(r"\$\{[a-z0-9_]+\.([^.]+)\.[a-z_]+\}", reference)
    assert match, reference
    return match.group(1)


def _template(asg: dict) -> tuple[str, str]:
    """(id, version) of the launch template an ASG launches from, plain or mixed instances."""
    if "launch_template" in asg:
        return asg["launch_template"]["id"], asg["launch_template"]["version"]
    spec = asg["mixed_instances_policy"]["launch_template"]["launch_template_specification"]
    return spec["launch_template_id"], spec["version"]


@pytest.mark.parametrize("env", ENVS)
def test_instance_refresh_follows_the_launch_template_version(synth, env):
    """With "$Latest" the ASG's launch_template never changes, so no refresh ever starts."""
    stack = synth.stack(f"cluster-{env}")
    assert stack.resources("aws_autoscaling_group")
    for asg in stack.resources("aws_autoscaling_group").values():
        assert asg["instance_refresh"]["strategy"] == "Rolling"
        template_id, version = _template(asg)
        assert version == template_id.replace(".id}", ".latest_version}"), asg["name"]


@pytest.mark.parametrize("env", ENVS)
def test_trunking_is_set_before_instances_register(synth, env):
    """awsvpcTrunking applies only to instances registered after it is set."""
    cluster = synth.stack(f"cluster-{env}")
    setting_id, setting = cluster.one("aws_ecs_account_setting_default")
    assert (setting["name"], setting["value"]) == ("awsvpcTrunking", "enabled")
    for asg in cluster.resources("aws_autoscaling_group").values():
        assert _address("aws_ecs_account_setting_default", setting_id) in _depends_on(asg)
    for name in synth.stack_names:
        if name != f"cluster-{env}" and name.endswith(f"-{env}"):
            assert not synth.stack(name).resources("aws_ecs_account_setting_default"), name


@pytest.mark.parametrize("env", ENVS)
def test_services_wait_for_every_policy_of_their_roles(synth, env):
    """Tasks started before their roles' policies exist fail and trip the circuit breaker."""
    stack = synth.stack(f"services-{env}")
    policies = {
        **{
            _address("aws_iam_role_policy", k): v["role"]
            for k, v in stack.resources("aws_iam_role_policy").items()
        },
        **{
            _address("aws_iam_role_policy_attachment", k): v["role"]
            for k, v in stack.resources("aws_iam_role_policy_attachment").items()
        },
    }
    tasks = stack.resources("aws_ecs_task_definition")
    assert stack.resources("aws_ecs_service")
    for service_id, service in stack.resources("aws_ecs_service").items():
        task = tasks[_logical_id(service["task_definition"])]
        roles = {_logical_id(task["execution_role_arn"]), _logical_id(task["task_role_arn"])}
        needed = {address for address, role in policies.items() if _logical_id(role) in roles}
        assert len(needed) >= 3, f"{service_id}: managed + inline policies expected"
        missing = needed - _depends_on(service)
        assert not missing, f"{service_id} does not wait for {missing}"


@pytest.mark.parametrize("env", ENVS)
def test_flow_log_waits_for_its_role_policy(synth, env):
    stack = synth.stack(f"network-{env}")
    _, flow = stack.one("aws_flow_log")
    if flow["log_destination_type"] != "cloud-watch-logs":
        pytest.skip("S3 flow logs use no role")
    policy_id, policy = stack.one("aws_iam_role_policy")
    assert _address("aws_iam_role_policy", policy_id) in _depends_on(flow)
    actions = {a for s in json.loads(policy["policy"])["Statement"] for a in s["Action"]}
    # AWS's documented flow-log policy (CreateLogGroup is not needed: the group is ours).
    assert {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
    } <= actions


@pytest.mark.parametrize("env", ENVS)
def test_trust_policies_carry_only_documented_conditions(synth, env):
    roles = [
        (name, role)
        for name in synth.stack_names
        if name.endswith(f"-{env}")
        for role in synth.stack(name).resources("aws_iam_role").values()
    ]
    assert roles
    for stack_name, role in roles:
        for trust in json.loads(role["assume_role_policy"])["Statement"]:
            service = trust["Principal"]["Service"]
            assert service in DOCUMENTED_TRUST_CONDITIONS, f"{role['name']}: review {service}"
            keys = {k for block in trust.get("Condition", {}).values() for k in block}
            assert keys == DOCUMENTED_TRUST_CONDITIONS[service], (stack_name, role["name"])


@pytest.mark.parametrize("env", ENVS)
def test_ami_matches_the_instance_architecture(synth, env):
    """Every type a group may launch runs the AMI its launch template names."""
    stack = synth.stack(f"cluster-{env}")
    templates = stack.resources("aws_launch_template")
    for asg in stack.resources("aws_autoscaling_group").values():
        lt = templates[_logical_id(_template(asg)[0])]
        ami = stack.data("aws_ssm_parameter")[lt["image_id"].split(".")[2]]
        overrides = (
            asg.get("mixed_instances_policy", {}).get("launch_template", {}).get("override", [])
        )
        for instance_type in [lt["instance_type"], *(o["instance_type"] for o in overrides)]:
            assert ami["name"] == ECS_AMI_PARAMETERS[instance_architecture(instance_type)], (
                asg["name"],
                instance_type,
            )


@pytest.mark.parametrize("env", ENVS)
def test_every_stack_requires_a_terraform_with_s3_lockfile_support(synth, env):
    for name in synth.stack_names:
        if name.endswith(f"-{env}"):
            terraform = synth.stack(name).doc["terraform"]
            assert terraform["required_version"] == ">= 1.10", name


@pytest.mark.parametrize("env", ENVS)
def test_ecs_exec_targets_a_container_with_a_writable_root(synth, env):
    """ECS Exec's injected SSM agent cannot start in a read-only root filesystem."""
    stack = synth.stack(f"services-{env}")
    exec_on = ENVS[env].services_settings.ecs_exec_enabled
    for service in stack.resources("aws_ecs_service").values():
        assert service["enable_execute_command"] is exec_on
        task = stack.resources("aws_ecs_task_definition")[_logical_id(service["task_definition"])]
        app, agent = json.loads(task["container_definitions"])
        assert agent["readonlyRootFilesystem"] is True, "the sidecar is never exec'd into"
        if exec_on:
            assert not app.get("readonlyRootFilesystem"), f"{app['name']} must stay writable"
