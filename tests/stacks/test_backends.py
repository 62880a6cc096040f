"""Every stack has its own env-scoped remote state; Terraform Cloud is selectable per env."""

from __future__ import annotations

from dataclasses import replace

import pytest

from settings.environments import select
from settings.schema import DeployRole, TerraformCloudState
from tests.tables import SAMPLE as ENVIRONMENTS

ENV_NAMES = [e.name for e in ENVIRONMENTS]
STACK_KINDS = ["network", "cluster", "config", "registry", "services"]


@pytest.mark.parametrize("env", ENV_NAMES)
@pytest.mark.parametrize("kind", STACK_KINDS)
def test_s3_backend_is_encrypted_locked_and_env_scoped(synth, env, kind):
    settings = next(e for e in ENVIRONMENTS if e.name == env)
    backend = synth.stack(f"{kind}-{env}").doc["terraform"]["backend"]["s3"]
    assert backend == {
        "bucket": settings.state.bucket,
        "region": settings.state.region,
        "key": f"ecs-cdktf/{env}/{kind}.tfstate",
        "encrypt": True,
        "use_lockfile": True,
        "allowed_account_ids": [settings.account_id],
    }


def test_no_two_stacks_share_a_state_key(synth):
    keys = [synth.stack(n).doc["terraform"]["backend"]["s3"]["key"] for n in synth.stack_names]
    assert len(keys) == len(set(keys)) == len(synth.stack_names)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_provider_is_pinned_to_the_env_account_and_region(synth, env):
    settings = next(e for e in ENVIRONMENTS if e.name == env)
    provider = synth.stack(f"network-{env}").doc["provider"]["aws"][0]
    assert provider["region"] == settings.region
    assert provider["allowed_account_ids"] == [settings.account_id]
    assert provider["default_tags"][0]["tags"]["Environment"] == env


def test_terraform_cloud_backend_uses_one_workspace_per_env_and_stack(tmp_path):
    from main import build_app
    from tests.synth_helpers import SynthOutput

    dev = replace(select("dev", ENVIRONMENTS)[0], state=TerraformCloudState(organization="acme"))
    build_app([dev], str(tmp_path)).synth()
    out = SynthOutput(tmp_path)
    for kind in STACK_KINDS:
        cloud = out.stack(f"{kind}-dev").doc["terraform"]["cloud"]
        assert cloud == {
            "hostname": "app.terraform.io",
            "organization": "acme",
            "workspaces": {"name": f"ecs-cdktf-{kind}-dev"},
        }
        assert "backend" not in out.stack(f"{kind}-dev").doc["terraform"]


def test_a_deploy_role_is_assumed_by_provider_backend_and_every_remote_state_read(tmp_path):
    """One pipeline deploys every env: each env's Terraform assumes that env's role."""
    from main import build_app
    from settings.validation import validate
    from tests.synth_helpers import SynthOutput

    dev = select("dev", ENVIRONMENTS)[0]
    role = DeployRole(
        role_arn=f"arn:aws:iam::{dev.account_id}:role/ecs-cdktf-deploy", external_id="ci-0123"
    )
    build_app([validate(replace(dev, deploy_role=role))], str(tmp_path)).synth()
    out = SynthOutput(tmp_path)
    expected = {"role_arn": role.role_arn, "external_id": "ci-0123", "session_name": "ecs-cdktf"}
    reads = 0
    for kind in STACK_KINDS:
        doc = out.stack(f"{kind}-dev").doc
        assert doc["provider"]["aws"][0]["assume_role"] == [expected]
        assert doc["terraform"]["backend"]["s3"]["assume_role"] == expected
        for state in doc.get("data", {}).get("terraform_remote_state", {}).values():
            assert state["config"]["assume_role"] == expected
            assert state["config"]["allowed_account_ids"] == [dev.account_id]
            reads += 1
    assert reads >= 3, "cluster and services read other stacks' state"


def test_without_a_deploy_role_the_shell_credentials_are_used(synth):
    for name in synth.stack_names:
        doc = synth.stack(name).doc
        assert "assume_role" not in doc["provider"]["aws"][0]
        assert "assume_role" not in doc["terraform"]["backend"]["s3"]
