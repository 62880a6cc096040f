"""An env whose service uses a feature-flag profile synthesizes it the AppConfig way."""

from __future__ import annotations

import json

import pytest

from tests.settings.test_feature_flags import FLAGS, flags_env
from tests.synth_helpers import SynthOutput


@pytest.fixture(scope="module")
def flagged(synth, tmp_path_factory) -> SynthOutput:
    """dev with web's profile as feature flags, synthesized by main.build_app (after the
    session synth, which imports the provider once)."""
    from main import build_app

    outdir = tmp_path_factory.mktemp("flags")
    build_app([flags_env()], str(outdir)).synth()
    return SynthOutput(outdir)


def test_feature_flag_profile_is_typed_unvalidated_and_deployed_in_the_flag_format(flagged):
    stack = flagged.stack("config-dev")
    profiles = {
        p["name"]: (k, p) for k, p in stack.resources("aws_appconfig_configuration_profile").items()
    }
    pid, flags = profiles["web-flags"]
    assert (flags["type"], flags["location_uri"]) == ("AWS.AppConfig.FeatureFlags", "hosted")
    assert "validator" not in flags  # AppConfig validates its own flag format
    _, worker = profiles["worker-app"]
    assert worker["type"] == "AWS.Freeform" and worker["validator"][0]["type"] == "JSON_SCHEMA"
    ref = stack.ref("aws_appconfig_configuration_profile", pid, "configuration_profile_id")
    (version,) = [
        v
        for v in stack.resources("aws_appconfig_hosted_configuration_version").values()
        if v["configuration_profile_id"] == ref
    ]
    assert json.loads(version["content"]) == FLAGS
    assert version["content_type"] == "application/json"
    # Deployments of the flag profile wake web's agents like any other profile.
    (rule,) = [
        r
        for r in stack.resources("aws_cloudwatch_event_rule").values()
        if r["name"] == "dev-web-config-deployments"
    ]
    pattern = json.loads(rule["event_pattern"])
    assert pattern["detail"]["requestParameters"]["configurationProfileId"] == [ref]
