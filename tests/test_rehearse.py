"""make rehearse: what the rehearsal skips and why (one list, each gap shown real against moto),
and the rehearsal-only settings that take a stack's own backend and remote state to moto."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from devtools.local_aws import Moto
from scripts import rehearse

REAL_TERRAFORM = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="no real terraform installed"
)


@pytest.fixture(scope="module")
def moto():
    server = Moto()
    yield server
    server.stop()


@pytest.mark.parametrize("rtype", sorted(rehearse.EMULATOR_GAPS))
def test_each_emulator_gap_is_still_a_gap_in_moto(moto, rtype):
    """When moto closes the gap this fails: take the type off the list and rehearse it."""

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=moto.endpoint,
            region_name="us-west-2",
            aws_access_key_id="k",
            aws_secret_access_key="k",
        )

    assert rehearse.EMULATOR_GAPS[rtype].probe(client)


def test_each_emulator_gap_names_a_type_the_stacks_create(synth):
    types = {
        rtype for name in synth.stack_names for rtype in synth.stack(name).doc.get("resource", {})
    }
    assert set(rehearse.EMULATOR_GAPS) <= types, "a stale entry: the stacks no longer create it"


DOC = {
    "resource": {
        "aws_appconfig_environment": {"Env": {"name": "dev"}},
        "aws_appconfig_deployment": {
            "Deploy": {"environment_id": "${aws_appconfig_environment.Env.environment_id}"}
        },
        "aws_sns_topic": {"Topic": {"name": "t"}, "Topic2": {"name": "t2"}},
        "aws_cloudwatch_event_rule": {
            "Rule": {"description": "${aws_appconfig_deployment.Deploy.id}"}
        },
    },
    "data": {
        "terraform_remote_state": {
            "net": {
                "backend": "s3",
                "config": {"bucket": "b", "key": "k", "region": "us-west-2", "encrypt": True},
            }
        }
    },
    "output": {
        "env_id": {"value": "${aws_appconfig_environment.Env.environment_id}"},
        "topic": {"value": "${aws_sns_topic.Topic.arn}"},
    },
}


def test_skipped_resources_are_the_gap_types_and_whatever_refers_to_them():
    doc = {
        **DOC,
        "resource": {
            **DOC["resource"],
            "aws_appautoscaling_target": {"Target": {"resource_id": "service/c/s"}},
            "aws_appautoscaling_policy": {
                "Cpu": {"resource_id": "${aws_appautoscaling_target.Target.resource_id}"}
            },
            "aws_sns_topic_policy": {
                "Policy": {"policy": "${jsonencode(aws_cloudwatch_event_rule.Rule.arn)}"},
                "Mixed": {"policy": "${upper(aws_appconfig_environment.Env.environment_id)}"},
            },
        },
    }
    skipped = rehearse.skipped_addresses(doc)
    assert set(skipped) == {
        "aws_appconfig_environment.Env",
        "aws_appconfig_deployment.Deploy",
        "aws_appautoscaling_target.Target",
        "aws_appautoscaling_policy.Cpu",  # not opaque: its target must exist
        "aws_sns_topic_policy.Mixed",  # an expression, not a plain quote
    }
    assert skipped["aws_appautoscaling_policy.Cpu"] == (
        "refers to aws_appautoscaling_target.Target"
    )
    assert "moto 5.2.5" in skipped["aws_appconfig_environment.Env"]


def test_an_opaque_quote_of_a_skipped_resource_gets_the_stand_in():
    skipped = rehearse.skipped_addresses(DOC)
    assert "aws_cloudwatch_event_rule.Rule" not in skipped
    copy = rehearse.rehearsal_doc(DOC, skipped)
    rule = copy["resource"]["aws_cloudwatch_event_rule"]["Rule"]
    assert rule == {"description": rehearse.STAND_IN}
    assert rehearse.stood_in(DOC, skipped) == {
        "aws_cloudwatch_event_rule.Rule": ["${aws_appconfig_deployment.Deploy.id}"]
    }


def test_a_depends_on_alone_does_not_skip_and_is_dropped_from_the_copy():
    doc = {
        **DOC,
        "resource": {
            **DOC["resource"],
            "aws_autoscaling_group": {
                "Asg": {"name": "a", "depends_on": ["aws_appconfig_environment.Env"]},
                "Both": {"depends_on": ["aws_sns_topic.Topic", "aws_appconfig_environment.Env"]},
            },
        },
    }
    skipped = rehearse.skipped_addresses(doc)
    assert "aws_autoscaling_group.Asg" not in skipped
    copy = rehearse.rehearsal_doc(doc, skipped)
    assert copy["resource"]["aws_autoscaling_group"] == {
        "Asg": {"name": "a"},
        "Both": {"depends_on": ["aws_sns_topic.Topic"]},
    }
    assert set(copy["resource"]) == {
        "aws_sns_topic",
        "aws_autoscaling_group",
        "aws_cloudwatch_event_rule",
    }
    assert copy["resource"]["aws_sns_topic"] == DOC["resource"]["aws_sns_topic"]
    assert {k: v for k, v in copy.items() if k != "resource"} == {
        k: v for k, v in DOC.items() if k != "resource"
    }


def test_a_gap_with_settings_is_created_with_them_not_skipped():
    doc = {"resource": {"aws_ecs_service": {"Web": {"name": "web", "wait_for_steady_state": True}}}}
    assert rehearse.skipped_addresses(doc) == {}
    override = rehearse.override_doc(doc, "http://127.0.0.1:1", {})
    assert override["resource"] == {"aws_ecs_service": {"Web": {"wait_for_steady_state": False}}}


def test_the_override_adds_moto_settings_and_stand_ins_and_keeps_the_rest():
    override = rehearse.override_doc(DOC, "http://127.0.0.1:1", rehearse.skipped_addresses(DOC))
    config = override["data"]["terraform_remote_state"]["net"]["config"]
    assert {k: config[k] for k in DOC["data"]["terraform_remote_state"]["net"]["config"]} == DOC[
        "data"
    ]["terraform_remote_state"]["net"]["config"]
    assert config["endpoints"] == {"s3": "http://127.0.0.1:1", "sts": "http://127.0.0.1:1"}
    assert override["output"] == {"env_id": {"value": rehearse.STAND_IN}}
    provider = override["provider"]["aws"][0]
    assert provider["s3_use_path_style"] is True
    assert provider["http_proxy"] == "http://127.0.0.1:1"  # S3 Control's account-prefixed host


def test_the_synthesized_stacks_carry_no_emulator_settings(synth):
    """Endpoints, credentials and path-style S3 are the rehearsal's, never in a stack."""
    for name in synth.stack_names:
        doc = synth.stack(name).doc
        settings = [
            *doc["provider"]["aws"],
            doc["terraform"]["backend"]["s3"],
            *(s["config"] for s in doc.get("data", {}).get("terraform_remote_state", {}).values()),
        ]
        for block in settings:
            assert not set(block) & {
                "endpoints",
                "access_key",
                "secret_key",
                "use_path_style",
                "s3_use_path_style",
                "skip_credentials_validation",
            }, name


def _terraform(directory, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", AWS_EC2_METADATA_DISABLED="true")
    env["TF_CLI_CONFIG_FILE"] = str(directory / "none.rc")  # no user config, no registry use
    proc = subprocess.run(
        ["terraform", f"-chdir={directory}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@REAL_TERRAFORM
def test_a_stacks_own_backend_and_remote_state_reach_moto_with_the_rehearsal_files(
    synth, moto, tmp_path, monkeypatch
):
    """Real terraform, no provider needed: the backend file merges over network-dev's own S3
    backend (bucket, key, encrypt, use_lockfile, allowed_account_ids kept) and cluster-dev's
    remote state of it, overridden as the rehearsal does, reads what was written."""
    backend = synth.stack("network-dev").doc["terraform"]["backend"]["s3"]
    monkeypatch.setenv("MOTO_ACCOUNT_ID", backend["allowed_account_ids"][0])
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name=backend["region"],
        aws_access_key_id="k",
        aws_secret_access_key="k",
    )
    s3.create_bucket(
        Bucket=backend["bucket"],
        CreateBucketConfiguration={"LocationConstraint": backend["region"]},
    )
    writer, reader = tmp_path / "writer", tmp_path / "reader"
    writer.mkdir()
    (writer / "main.tf.json").write_text(
        json.dumps(
            {"terraform": {"backend": {"s3": backend}}, "output": {"probe": {"value": "written"}}}
        )
    )
    (writer / rehearse.BACKEND_FILE).write_text(rehearse.backend_config(moto.endpoint))
    _terraform(writer, "init", "-input=false", f"-backend-config={rehearse.BACKEND_FILE}")
    _terraform(writer, "apply", "-input=false", "-auto-approve")
    assert s3.head_object(Bucket=backend["bucket"], Key=backend["key"])["ContentLength"] > 0

    states = synth.stack("cluster-dev").doc["data"]["terraform_remote_state"]
    (name,) = [n for n, s in states.items() if s["config"]["key"] == backend["key"]]
    doc = {
        "data": {"terraform_remote_state": {name: states[name]}},
        "output": {"read": {"value": f"${{data.terraform_remote_state.{name}.outputs.probe}}"}},
    }
    reader.mkdir()
    (reader / "main.tf.json").write_text(json.dumps(doc))
    override = rehearse.override_doc(doc, moto.endpoint, {})
    (reader / rehearse.OVERRIDE_FILE).write_text(json.dumps({"data": override["data"]}))
    _terraform(reader, "init", "-input=false")
    _terraform(reader, "apply", "-input=false", "-auto-approve")
    assert _terraform(reader, "output", "-raw", "read").stdout == "written"


def test_readme_lists_every_emulator_gap_and_no_other():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Rehearse\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(aws_[a-z0-9_]+)` \|", section, re.MULTILINE))
    assert listed == set(rehearse.EMULATOR_GAPS)
