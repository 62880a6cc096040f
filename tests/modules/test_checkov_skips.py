"""Inline checkov skips accumulate on a resource and always carry a reason."""

from __future__ import annotations

import json

import pytest


def _log_group_skips(tmp_path, *skip_sets):
    """The `//.checkov_skip` list of a synthesized log group after `skip_checks` calls."""
    from engine.aws.cloudwatch_log_group import CloudwatchLogGroup
    from engine.aws.provider import AwsProvider
    from engine.core import App, TerraformStack
    from modules.checkov_skips import skip_checks

    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "skips")
    AwsProvider(stack, "aws", region="us-west-2")
    group = CloudwatchLogGroup(stack, "Logs", name="x")
    for skips in skip_sets:
        skip_checks(group, skips)
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "skips" / "cdk.tf.json").read_text())
    (body,) = doc["resource"]["aws_cloudwatch_log_group"].values()
    return body["//"].get("checkov_skip")


def test_second_call_adds_to_the_first(tmp_path):
    assert _log_group_skips(tmp_path, {"CKV_AWS_158": "a"}, {"CKV_AWS_338": "b"}) == [
        "checkov:skip=CKV_AWS_158: a",
        "checkov:skip=CKV_AWS_338: b",
    ]


def test_same_check_with_another_reason_and_empty_reasons_are_refused(tmp_path):
    with pytest.raises(ValueError, match="already skipped with another reason"):
        _log_group_skips(tmp_path / "a", {"CKV_AWS_158": "a"}, {"CKV_AWS_158": "b"})
    with pytest.raises(ValueError, match="needs a reason"):
        _log_group_skips(tmp_path / "b", {"CKV_AWS_158": " "})
