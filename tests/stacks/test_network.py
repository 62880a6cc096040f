"""Network stack: subnets per AZ, NAT per mode, routing, flow logs, endpoints."""

from __future__ import annotations

import ipaddress
import json

import pytest

from settings.schema import NatMode
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}


def _subnets(stack, tier):
    return {k: v for k, v in stack.resources("aws_subnet").items() if v["tags"]["Tier"] == tier}


@pytest.mark.parametrize("env", ENVS)
def test_public_and_private_subnet_per_az_inside_the_vpc(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"network-{env}")
    vpc_id, vpc = stack.one("aws_vpc")
    assert vpc["cidr_block"] == settings.network.vpc_cidr
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True
    vpc_net = ipaddress.ip_network(vpc["cidr_block"])
    cidrs = []
    for tier in ("public", "private"):
        subnets = _subnets(stack, tier)
        assert len(subnets) == settings.network.az_count
        azs = [s["availability_zone"] for s in subnets.values()]
        assert sorted(azs) == sorted(settings.availability_zones)
        assert len(set(azs)) == len(azs), "subnets of a tier must be in distinct AZs"
        for s in subnets.values():
            assert s["vpc_id"] == stack.ref("aws_vpc", vpc_id, "id")
            assert s["map_public_ip_on_launch"] is False
            cidrs.append(ipaddress.ip_network(s["cidr_block"]))
    assert all(c.subnet_of(vpc_net) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


@pytest.mark.parametrize("env", ENVS)
def test_nat_gateway_count_follows_nat_mode(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"network-{env}")
    expected = settings.network.az_count if settings.network.nat_mode is NatMode.PER_AZ else 1
    nats = stack.resources("aws_nat_gateway")
    assert len(nats) == expected
    assert len(stack.resources("aws_eip")) == expected
    public_refs = {stack.ref("aws_subnet", k, "id") for k in _subnets(stack, "public")}
    assert {n["subnet_id"] for n in nats.values()} <= public_refs
    eip_refs = {stack.ref("aws_eip", k, "id") for k in stack.resources("aws_eip")}
    assert {n["allocation_id"] for n in nats.values()} == eip_refs


@pytest.mark.parametrize("env", ENVS)
def test_private_subnets_route_through_nat_and_public_through_igw(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"network-{env}")
    routes = stack.resources("aws_route").values()
    igw_id, _ = stack.one("aws_internet_gateway")
    nat_refs = {stack.ref("aws_nat_gateway", k, "id") for k in stack.resources("aws_nat_gateway")}
    assert (
        sum(r.get("gateway_id") == stack.ref("aws_internet_gateway", igw_id, "id") for r in routes)
        == 1
    )
    private_nat_targets = [r["nat_gateway_id"] for r in routes if "nat_gateway_id" in r]
    assert len(private_nat_targets) == settings.network.az_count
    assert set(private_nat_targets) == nat_refs
    assert all(r["destination_cidr_block"] == "0.0.0.0/0" for r in routes)
    associated = {a["subnet_id"] for a in stack.resources("aws_route_table_association").values()}
    assert associated == {stack.ref("aws_subnet", k, "id") for k in stack.resources("aws_subnet")}


@pytest.mark.parametrize("env", ENVS)
def test_flow_logs_go_to_a_retained_log_group_through_a_scoped_role(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"network-{env}")
    _, flow = stack.one("aws_flow_log")
    group_id, group = stack.one("aws_cloudwatch_log_group")
    role_id, role = stack.one("aws_iam_role")
    vpc_id, _ = stack.one("aws_vpc")
    assert flow["vpc_id"] == stack.ref("aws_vpc", vpc_id, "id")
    assert flow["traffic_type"] == "ALL"
    assert flow["log_destination"] == stack.ref("aws_cloudwatch_log_group", group_id, "arn")
    assert flow["iam_role_arn"] == stack.ref("aws_iam_role", role_id, "arn")
    assert group["retention_in_days"] == settings.network.flow_log_retention_days
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == settings.account_id
    _, policy = stack.one("aws_iam_role_policy")
    statement = json.loads(policy["policy"])["Statement"][0]
    assert statement["Resource"] == [
        stack.ref("aws_cloudwatch_log_group", group_id, "arn").replace("}", "}:*")
    ]
    assert "*" not in statement["Action"]


@pytest.mark.parametrize("env", ENVS)
def test_vpc_endpoints_only_where_enabled(synth, env):
    settings = ENVS[env]
    stack = synth.stack(f"network-{env}")
    endpoints = stack.resources("aws_vpc_endpoint")
    if not settings.network.vpc_endpoints:
        assert endpoints == {}
        return
    services = sorted(
        e["service_name"].split(f"com.amazonaws.{settings.region}.")[1] for e in endpoints.values()
    )
    assert services == sorted(
        [
            "ecs",
            "ecs-agent",
            "ecs-telemetry",
            "ecr.api",
            "ecr.dkr",
            "logs",
            "sqs",
            "sns",
            "secretsmanager",
            "appconfigdata",
            "appconfig",
            "kms",
            "sts",
            "ssm",
            "ssmmessages",
            "ec2messages",
            "s3",
        ]
    )
    gateway = [e for e in endpoints.values() if e["vpc_endpoint_type"] == "Gateway"]
    assert [e["service_name"] for e in gateway] == [f"com.amazonaws.{settings.region}.s3"]
    interface = [e for e in endpoints.values() if e["vpc_endpoint_type"] == "Interface"]
    assert all(e["private_dns_enabled"] is True for e in interface)
    private_refs = sorted(
        stack.ref("aws_subnet", k, "id")
        for k, v in stack.resources("aws_subnet").items()
        if v["tags"]["Tier"] == "private"
    )
    assert all(sorted(e["subnet_ids"]) == private_refs for e in interface)
    _, ingress = stack.one("aws_vpc_security_group_ingress_rule")
    assert (ingress["from_port"], ingress["to_port"], ingress["cidr_ipv4"]) == (
        443,
        443,
        settings.network.vpc_cidr,
    )


@pytest.mark.parametrize("env", ENVS)
def test_default_security_group_is_stripped_and_outputs_exported(synth, env):
    stack = synth.stack(f"network-{env}")
    _, default_sg = stack.one("aws_default_security_group")
    assert "ingress" not in default_sg and "egress" not in default_sg
    assert {"vpc_id", "public_subnet_ids", "private_subnet_ids"} <= set(stack.doc["output"])


ENDPOINTS_FOR_ACTIONS = {
    "sqs": {"sqs"},
    "sns": {"sns"},
    "secretsmanager": {"secretsmanager"},
    "appconfig": {"appconfig", "appconfigdata"},
    "kms": {"kms"},
    "ecs": {"ecs"},
    "ssmmessages": {"ssmmessages"},
    "logs": {"logs"},
}
"""Interface endpoints that serve the API calls of each IAM action prefix."""


@pytest.mark.parametrize("env", [e.name for e in ENVIRONMENTS if e.network.vpc_endpoints])
def test_every_api_the_tasks_may_call_has_an_endpoint(synth, env):
    """Config and secret traffic (and everything else tasks do) stays off the NAT."""
    region = ENVS[env].region
    endpoints = {
        e["service_name"].removeprefix(f"com.amazonaws.{region}.")
        for e in synth.stack(f"network-{env}").resources("aws_vpc_endpoint").values()
    }
    services = synth.stack(f"services-{env}")
    prefixes = {
        action.split(":")[0]
        for policy in services.resources("aws_iam_role_policy").values()
        for statement in json.loads(policy["policy"])["Statement"]
        for action in statement["Action"]
    }
    assert prefixes, "task and execution roles grant AWS API calls"
    for prefix in prefixes:
        assert ENDPOINTS_FOR_ACTIONS[prefix] <= endpoints, prefix
