"""Cluster stack: launch template, ASG, capacity provider, IAM, cross-stack wiring."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest

from tests.synth_helpers import remote_output
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}


@dataclass
class Group:
    """One Auto Scaling group of the cluster with its launch template and capacity provider."""

    lt_id: str
    lt: dict
    asg_id: str
    asg: dict
    cp_id: str
    cp: dict


def _template_ref(asg: dict) -> dict:
    if "launch_template" in asg:
        return asg["launch_template"]
    spec = asg["mixed_instances_policy"]["launch_template"]["launch_template_specification"]
    return {"id": spec["launch_template_id"], "version": spec["version"]}


def _groups(stack) -> dict[str, Group]:
    """{ASG name: Group} for every instance group of a cluster stack."""
    providers = {
        v["auto_scaling_group_provider"]["auto_scaling_group_arn"]: (k, v)
        for k, v in stack.resources("aws_ecs_capacity_provider").items()
    }
    templates = {
        stack.ref("aws_launch_template", k, "id"): k for k in stack.resources("aws_launch_template")
    }
    groups = {}
    for asg_id, asg in stack.resources("aws_autoscaling_group").items():
        lt_id = templates[_template_ref(asg)["id"]]
        cp_id, cp = providers[stack.ref("aws_autoscaling_group", asg_id, "arn")]
        groups[asg["name"]] = Group(
            lt_id, stack.resources("aws_launch_template")[lt_id], asg_id, asg, cp_id, cp
        )
    assert (
        len(groups)
        == len(stack.resources("aws_ecs_capacity_provider"))
        == len(stack.resources("aws_launch_template"))
    )
    return groups


def _expected_groups(env: str) -> set[str]:
    c = ENVS[env].cluster
    return (
        {f"{env}-platform-ecs"}
        | ({f"{env}-platform-ecs-spot"} if c.spot else set())
        | ({f"{env}-platform-ecs-arm64"} if c.graviton else set())
    )


@pytest.mark.parametrize("env", ENVS)
def test_every_launch_template_requires_imdsv2_encrypts_and_has_no_public_ip(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    groups = _groups(stack)
    assert set(groups) == _expected_groups(env)
    profile_id, _ = stack.one("aws_iam_instance_profile")
    sg_id, _ = stack.one("aws_security_group")
    for group in groups.values():
        lt = group.lt
        assert lt["metadata_options"] == {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 2,
            "instance_metadata_tags": "disabled",
        }
        (device,) = lt["block_device_mappings"]
        assert device["ebs"]["encrypted"] == "true"
        assert device["ebs"]["volume_type"] == "gp3"
        assert device["ebs"]["volume_size"] == settings.cluster.root_volume_gb
        (nic,) = lt["network_interfaces"]
        assert nic["associate_public_ip_address"] == "false"
        assert "key_name" not in lt, "no SSH keys: access is SSM Session Manager"
        assert lt["iam_instance_profile"] == {
            "arn": stack.ref("aws_iam_instance_profile", profile_id, "arn")
        }
        assert nic["security_groups"] == [stack.ref("aws_security_group", sg_id, "id")]
    primary = groups[f"{env}-platform-ecs"]
    assert primary.lt["instance_type"] == settings.cluster.instance_type
    ami_id = primary.lt["image_id"].split(".")[2]
    assert stack.data("aws_ssm_parameter")[ami_id]["name"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    )


@pytest.mark.parametrize("env", ENVS)
def test_user_data_joins_the_cluster_and_drains_spot_instances(synth, env):
    stack = synth.stack(f"cluster-{env}")
    _, cluster = stack.one("aws_ecs_cluster")
    for name, group in _groups(stack).items():
        script = base64.b64decode(group.lt["user_data"]).decode()
        assert f"ECS_CLUSTER={cluster['name']}\n" in script
        assert "amazon-cloudwatch-agent-ctl -a fetch-config" in script
        config = json.loads(script.split("<<'CWCONFIG'\n")[1].split("\nCWCONFIG")[0])
        assert config["metrics"]["namespace"] == "CWAgent"
        # Spot instances drain on their two-minute interruption notice.
        spot = name.endswith("-spot")
        assert ("ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\n" in script) is spot, name


@pytest.mark.parametrize("env", ENVS)
def test_instances_have_no_ingress(synth, env):
    stack = synth.stack(f"cluster-{env}")
    _, sg = stack.one("aws_security_group")
    assert "ingress" not in sg
    assert stack.resources("aws_vpc_security_group_ingress_rule") == {}


@pytest.mark.parametrize("env", ENVS)
def test_groups_use_their_template_in_private_subnets(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    network = synth.stack(f"network-{env}")
    private = sorted(
        network.ref("aws_subnet", k, "id")
        for k, v in network.resources("aws_subnet").items()
        if v["tags"]["Tier"] == "private"
    )
    groups = _groups(stack)
    for group in groups.values():
        asg = group.asg
        assert _template_ref(asg) == {
            "id": stack.ref("aws_launch_template", group.lt_id, "id"),
            "version": stack.ref("aws_launch_template", group.lt_id, "latest_version"),
        }
        assert asg["protect_from_scale_in"] is True
        assert {"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True} in asg[
            "tag"
        ]
        assert asg["lifecycle"]["ignore_changes"] == ["desired_capacity"]
        # The subnets are cross-stack references resolving to the network's private subnets.
        assert (
            sorted(remote_output(synth, stack, ref) for ref in asg["vpc_zone_identifier"])
            == private
        )
    primary = groups[f"{env}-platform-ecs"].asg
    assert (primary["min_size"], primary["max_size"], primary["desired_capacity"]) == (
        settings.cluster.asg_min,
        settings.cluster.asg_max,
        settings.cluster.asg_desired,
    )
    assert "mixed_instances_policy" not in primary, "the primary group is on-demand"


@pytest.mark.parametrize("env", [e for e in ENVS if ENVS[e].cluster.spot])
def test_spot_group_spreads_over_several_types_price_capacity_optimized(synth, env):
    spot = ENVS[env].cluster.spot
    asg = _groups(synth.stack(f"cluster-{env}"))[f"{env}-platform-ecs-spot"].asg
    policy = asg["mixed_instances_policy"]
    assert policy["instances_distribution"] == {
        "on_demand_base_capacity": 0,
        "on_demand_percentage_above_base_capacity": 0,
        "spot_allocation_strategy": "price-capacity-optimized",
    }
    assert [o["instance_type"] for o in policy["launch_template"]["override"]] == list(
        spot.instance_types
    )
    assert len(spot.instance_types) >= 3, "several pools keep Spot available"
    assert asg["capacity_rebalance"] is True
    assert (asg["min_size"], asg["max_size"]) == (spot.min_size, spot.max_size)


@pytest.mark.parametrize("env", ENVS)
def test_capacity_providers_manage_their_groups_and_form_the_cluster_default(synth, env):
    from settings.capacity import primary_architecture, strategies

    settings = ENVS[env]
    stack = synth.stack(f"cluster-{env}")
    groups = _groups(stack)
    for group in groups.values():
        provider = group.cp["auto_scaling_group_provider"]
        assert provider["managed_termination_protection"] == "ENABLED"
        assert provider["managed_draining"] == "ENABLED"
        scaling = provider["managed_scaling"]
        assert scaling["status"] == "ENABLED"
        assert scaling["target_capacity"] == settings.cluster.target_capacity_percent
        assert (scaling["minimum_scaling_step_size"], scaling["maximum_scaling_step_size"]) == (
            settings.cluster.min_scaling_step,
            settings.cluster.max_scaling_step,
        )
    cluster_id, cluster = stack.one("aws_ecs_cluster")
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enhanced"}]
    _, assoc = stack.one("aws_ecs_cluster_capacity_providers")
    names = {
        name: stack.ref("aws_ecs_capacity_provider", g.cp_id, "name") for name, g in groups.items()
    }
    assert assoc["cluster_name"] == stack.ref("aws_ecs_cluster", cluster_id, "name")
    assert sorted(assoc["capacity_providers"]) == sorted(names.values())
    keys = {"on_demand": f"{env}-platform-ecs", "spot": f"{env}-platform-ecs-spot"}
    assert assoc["default_capacity_provider_strategy"] == [
        {"capacity_provider": names[keys[item.group]], "base": item.base, "weight": item.weight}
        for item in strategies(settings.cluster)[primary_architecture(settings.cluster)]
    ]


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
    assert ami["name"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
    )
    assert stack.one("aws_launch_template")[1]["instance_type"] == "m7g.large"
