"""What only AWS knows is checked at `terraform plan`, naming the setting (issue 21): a
placeholder hosted zone or example domain, a zone that does not hold the domain, an AZ the
account lacks. The conditions are the synthesized ones, run by the real terraform binary over
a stand-in for the data source (`terraform_data`, which needs no provider or credentials)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TERRAFORM = shutil.which("terraform")
pytestmark = pytest.mark.skipif(TERRAFORM is None, reason="terraform not on PATH")


def _run(
    tmp_path: Path, locals_: dict[str, Any], lifecycle: dict[str, Any], data: dict[str, Any]
) -> subprocess.CompletedProcess:
    """`terraform apply` (local state, no provider) of one terraform_data carrying the data
    source's conditions, `self` standing for a data source that returned `data`: a data source
    checks its postconditions at plan, right after the read; terraform_data knows its output
    only at apply, so apply is where the same conditions run here."""

    def as_resource(condition: dict[str, str]) -> dict[str, str]:
        expression = condition["condition"].replace("self.", "self.output.")
        return {**condition, "condition": expression}

    body = {
        "input": data,
        "lifecycle": {
            kind: [as_resource(c) for c in lifecycle.get(kind, [])]
            for kind in ("precondition", "postcondition")
            if lifecycle.get(kind)
        },
    }
    (tmp_path / "main.tf.json").write_text(
        json.dumps({"locals": locals_, "resource": {"terraform_data": {"guard": body}}})
    )
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    apply = ["apply", "-auto-approve", "-input=false", "-no-color"]
    for args in (["init", "-backend=false"], apply):
        proc = subprocess.run(
            [TERRAFORM, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        if proc.returncode:
            return proc
    return proc


def _data(synth, stack: str, dtype: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = synth.stack(stack).doc
    (body,) = doc["data"][dtype].values()
    return doc.get("locals", {}), body["lifecycle"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_placeholder_hosted_zone_fails_plan_naming_the_setting(synth, tmp_path):
    locals_, lifecycle = _data(synth, "services-prod", "aws_route53_zone")
    proc = _run(tmp_path, locals_, lifecycle, {"name": "example.com", "private_zone": False})
    assert proc.returncode != 0
    assert (
        "environment 'prod': services_settings.https.hosted_zone_id: 'Z0PLACEHOLDER0PROD' "
        "is a placeholder"
    ) in _flat(proc.stderr), proc.stderr


def test_an_example_domain_fails_plan_naming_the_setting(synth, tmp_path):
    locals_, lifecycle = _data(synth, "services-prod", "aws_route53_zone")
    real_zone = {
        k: ("Z1D633PJN98FT9" if v == "Z0PLACEHOLDER0PROD" else v) for k, v in locals_.items()
    }
    proc = _run(tmp_path, real_zone, lifecycle, {"name": "example.com", "private_zone": False})
    assert (
        "environment 'prod': services_settings.https.domain: 'app.example.com' is a "
        "reserved example name"
    ) in _flat(proc.stderr), proc.stderr


@pytest.mark.parametrize(
    ("zone", "private", "ok"),
    [
        ("acme.io", False, True),
        ("app.acme.io", False, True),
        ("other.io", False, False),
        ("acme.io", True, False),
        ("cme.io", False, False),
    ],
)
def test_the_zone_must_be_public_and_hold_the_domain(synth, tmp_path, zone, private, ok):
    locals_, lifecycle = _data(synth, "services-prod", "aws_route53_zone")
    real = {
        k: {"Z0PLACEHOLDER0PROD": "Z1D633PJN98FT9", "app.example.com": "app.acme.io"}.get(v, v)
        for k, v in locals_.items()
    }
    proc = _run(tmp_path, real, lifecycle, {"name": zone, "private_zone": private})
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert "services_settings.https.hosted_zone_id: zone" in _flat(proc.stderr)


@pytest.mark.parametrize(
    ("available", "ok"),
    [
        (["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"], True),
        (["us-east-1a", "us-east-1b", "us-east-1d"], False),
    ],
)
def test_an_az_the_account_lacks_fails_plan_naming_the_setting(synth, tmp_path, available, ok):
    locals_, lifecycle = _data(synth, "network-prod", "aws_availability_zones")
    proc = _run(tmp_path, locals_, lifecycle, {"names": available})
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert (
            "environment 'prod': availability_zones: us-east-1a, us-east-1b, us-east-1c "
            "are not all available AZs of us-east-1"
        ) in _flat(proc.stderr), proc.stderr


def test_every_https_env_and_every_network_has_its_guard(table_synth):
    """Over the user's table: the lookups exist wherever their setting is used."""
    for name in table_synth.stack_names:
        doc = table_synth.stack(name).doc
        if name.startswith("network-"):
            assert doc["data"]["aws_availability_zones"], name
        if doc.get("resource", {}).get("aws_acm_certificate"):
            assert doc["data"]["aws_route53_zone"], name
