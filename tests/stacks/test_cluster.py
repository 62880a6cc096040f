"""Cluster stack: launch template, ASG, capacity provider, IAM, cross-stack wiring."""

from __future__ import annotations

import base64
import json

import pytest

from settings.environments import ENVIRONMENTS
from tests.synth_helpers import remote_output

ENVS = {e.name: e for e in ENVIRONMENTS}


@pytest.mark.parametrize("env", ENVS)
def test_launch_template_requires_imdsv2_encrypts_and_has_no_public_ip(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    _, lt = stack.one("aws_launch_template")
    assert lt["metadata_options"] == {"http_endpoint": "enabled", "http_tokens": "required",
                                      "http_put_response_hop_limit": 2,
                                      "instance_metadata_tags": "disabled"}
    (device,) = lt["block_device_mappings"]
    assert device["ebs"]["encrypted"] == "true"
    assert device["ebs"]["volume_type"] == "gp3"
    assert device["ebs"]["volume_size"] == settings.cluster.root_volume_gb
    (nic,) = lt["network_interfaces"]
    assert nic["associate_public_ip_address"] == "false"
    assert "key_name" not in lt, "no SSH keys: access is SSM Session Manager"
    assert lt["instance_type"] == settings.cluster.instance_type
    ((ami_id, ami),) = stack.data("aws_ssm_parameter").items()
    assert ami["name"] == "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    assert lt["image_id"] == f"${{data.aws_ssm_parameter.{ami_id}.value}}"
    profile_id, _ = stack.one("aws_iam_instance_profile")
    assert lt["iam_instance_profile"] == {
        "arn": stack.ref("aws_iam_instance_profile", profile_id, "arn")}
    sg_id, _ = stack.one("aws_security_group")
    assert nic["security_groups"] == [stack.ref("aws_security_group", sg_id, "id")]


@pytest.mark.parametrize("env", ENVS)
def test_user_data_joins_the_cluster_and_starts_the_cloudwatch_agent(synth, env):
    stack = synth.stack(f"cluster-{env}")
    _, lt = stack.one("aws_launch_template")
    _, cluster = stack.one("aws_ecs_cluster")
    script = base64.b64decode(lt["user_data"]).decode()
    assert f"ECS_CLUSTER={cluster['name']}\n" in script
    assert "amazon-cloudwatch-agent-ctl -a fetch-config" in script
    config = json.loads(script.split("<<'CWCONFIG'\n")[1].split("\nCWCONFIG")[0])
    assert config["metrics"]["namespace"] == "CWAgent"


@pytest.mark.parametrize("env", ENVS)
def test_instances_have_no_ingress(synth, env):
    stack = synth.stack(f"cluster-{env}")
    _, sg = stack.one("aws_security_group")
    assert "ingress" not in sg
    assert stack.resources("aws_vpc_security_group_ingress_rule") == {}


@pytest.mark.parametrize("env", ENVS)
def test_asg_uses_the_template_in_private_subnets(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    network = synth.stack(f"network-{env}")
    lt_id, _ = stack.one("aws_launch_template")
    _, asg = stack.one("aws_autoscaling_group")
    assert asg["launch_template"] == {"id": stack.ref("aws_launch_template", lt_id, "id"),
                                      "version": stack.ref("aws_launch_template", lt_id,
                                                           "latest_version")}
    assert (asg["min_size"], asg["max_size"], asg["desired_capacity"]) == (
        settings.cluster.asg_min, settings.cluster.asg_max, settings.cluster.asg_desired)
    assert asg["protect_from_scale_in"] is True
    assert {"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True} in asg["tag"]
    assert asg["lifecycle"]["ignore_changes"] == ["desired_capacity"]
    # The subnets are cross-stack references that resolve to the network's private subnets.
    resolved = sorted(remote_output(synth, stack, ref) for ref in asg["vpc_zone_identifier"])
    private = sorted(network.ref("aws_subnet", k, "id")
                     for k, v in network.resources("aws_subnet").items()
                     if v["tags"]["Tier"] == "private")
    assert resolved == private


@pytest.mark.parametrize("env", ENVS)
def test_capacity_provider_manages_the_asg_and_is_the_cluster_default(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    asg_id, _ = stack.one("aws_autoscaling_group")
    cp_id, cp = stack.one("aws_ecs_capacity_provider")
    provider = cp["auto_scaling_group_provider"]
    assert provider["auto_scaling_group_arn"] == stack.ref("aws_autoscaling_group", asg_id, "arn")
    assert provider["managed_termination_protection"] == "ENABLED"
    scaling = provider["managed_scaling"]
    assert scaling["status"] == "ENABLED"
    assert scaling["target_capacity"] == settings.cluster.target_capacity_percent
    assert (scaling["minimum_scaling_step_size"], scaling["maximum_scaling_step_size"]) == (
        settings.cluster.min_scaling_step, settings.cluster.max_scaling_step)
    cluster_id, cluster = stack.one("aws_ecs_cluster")
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enhanced"}]
    _, assoc = stack.one("aws_ecs_cluster_capacity_providers")
    cp_name = stack.ref("aws_ecs_capacity_provider", cp_id, "name")
    assert assoc["cluster_name"] == stack.ref("aws_ecs_cluster", cluster_id, "name")
    assert assoc["capacity_providers"] == [cp_name]
    assert assoc["default_capacity_provider_strategy"] == [{
        "capacity_provider": cp_name, "base": settings.cluster.capacity_provider_base,
        "weight": settings.cluster.capacity_provider_weight}]


@pytest.mark.parametrize("env", ENVS)
def test_instance_role_has_exactly_the_three_managed_policies(synth, env):
    stack = synth.stack(f"cluster-{env}")
    role_id, role = stack.one("aws_iam_role")
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]
    attachments = stack.resources("aws_iam_role_policy_attachment").values()
    assert sorted(a["policy_arn"] for a in attachments) == [
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    ]
    assert all(a["role"] == stack.ref("aws_iam_role", role_id, "name") for a in attachments)
    _, profile = stack.one("aws_iam_instance_profile")
    assert profile["role"] == stack.ref("aws_iam_role", role_id, "name")
    assert stack.resources("aws_iam_role_policy") == {}, "no inline policies on the host role"


def test_graviton_instances_get_the_arm64_ecs_ami(tmp_path):
    """An arm64 instance type with the x86_64 AMI would never run the ECS agent."""
    from dataclasses import replace

    from main import build_app
    from tests.synth_helpers import SynthOutput

    dev = ENVS["dev"]
    env = replace(dev, cluster=replace(dev.cluster, instance_type="m7g.large"))
    build_app([env], str(tmp_path)).synth()
    stack = SynthOutput(tmp_path).stack("cluster-dev")
    ((_, ami),) = stack.data("aws_ssm_parameter").items()
    assert ami["name"] == ("/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/"
                           "recommended/image_id")
    assert stack.one("aws_launch_template")[1]["instance_type"] == "m7g.large"
