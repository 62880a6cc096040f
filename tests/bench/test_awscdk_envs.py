"""The AWS CDK comparison app builds what our synth builds: its env table comes from
settings/environments.py and it has our stack kinds (no aws_cdk import: a bench helper)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from bench.awscdk.envs import INTERFACE_ENDPOINTS, plans
from main import STACKS_IN_DEPLOY_ORDER
from settings.schema import NatMode
from settings.services import WORKER
from tests.tables import SAMPLE as ENVIRONMENTS

APP = Path(__file__).resolve().parents[2] / "bench" / "awscdk"


def _comparable(env):
    """What both apps must agree on for one env, from our settings."""
    net = env.network
    return dict(
        name=env.name,
        account=env.account_id,
        region=env.region,
        availability_zones=env.availability_zones,
        vpc_cidr=net.vpc_cidr,
        nat_gateways=net.az_count if net.nat_mode is NatMode.PER_AZ else 1,
        flow_log_retention_days=net.flow_log_retention_days,
        interface_endpoints=len(INTERFACE_ENDPOINTS) if net.vpc_endpoints else 0,
        cluster=env.cluster,
        services=env.services,
    )


def _planned(p):
    return dict(
        name=p.name,
        account=p.account,
        region=p.region,
        availability_zones=p.availability_zones,
        vpc_cidr=p.vpc_cidr,
        nat_gateways=p.nat_gateways,
        flow_log_retention_days=p.flow_log_retention_days,
        interface_endpoints=len(p.interface_endpoints),
        cluster=p.cluster,
        services=p.services,
    )


def test_the_app_builds_every_env_of_the_settings_table():
    from main import load_table

    assert [_planned(p) for p in plans()] == [_comparable(e) for e in load_table()]
    assert {p.nat_gateways for p in plans(ENVIRONMENTS)} == {1, 3}  # dev, staging single


def test_a_changed_table_changes_the_app():
    dev = ENVIRONMENTS[0]
    changed = replace(
        dev,
        name="qa",
        account_id="444444444444",
        region="eu-west-1",
        availability_zones=("eu-west-1a", "eu-west-1b", "eu-west-1c"),
        network=replace(
            dev.network,
            vpc_cidr="10.40.0.0/16",
            az_count=3,
            nat_mode=NatMode.PER_AZ,
            vpc_endpoints=True,
        ),
        services=(WORKER,),
    )
    (qa,) = plans((changed,))
    assert _planned(qa) == _comparable(changed)
    assert qa.availability_zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert qa.subnet_cidr_mask == 20
    assert [r.name for r in qa.repositories] == ["config-agent", "worker"]


def test_endpoints_are_our_network_modules():
    from modules import network

    assert network.INTERFACE_ENDPOINTS == INTERFACE_ENDPOINTS


def test_the_app_has_our_stack_kinds():
    kinds = set()
    for path in APP.glob("*_stack.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                "kind"
            ]:
                kinds.add(ast.literal_eval(node.value))
    assert kinds == set(STACKS_IN_DEPLOY_ORDER)


def test_what_the_app_imports_from_the_project_exists():
    """The app runs only in its own venv (never in CI), so a project rename would break it
    unseen: every name it imports from our packages must still be there."""
    import importlib

    missing = []
    for path in sorted(APP.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] in {"modules", "settings", "config_agent"}
            ):
                module = importlib.import_module(node.module)
                missing += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if not hasattr(module, a.name)
                    and importlib.util.find_spec(f"{node.module}.{a.name}") is None
                ]
    assert not missing
