"""Issue 27's pipeline fields: bad values fail validation naming the env and the field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from settings.validation import SettingsError, validate
from tests.tables import SAMPLE as ENVIRONMENTS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_safety_refresh_seconds", 30),
        ("orphan_sweep_minutes", 0),
        ("orphan_sweep_minutes", 1441),
        ("orphan_grace_seconds", 10),
    ],
)
def test_bad_fan_out_timings_are_refused(field, value):
    env = ENVIRONMENTS[0]
    with pytest.raises(SettingsError, match=f"pipeline.{field}"):
        validate(replace(env, pipeline=replace(env.pipeline, **{field: value})))


def test_the_safety_refresh_may_be_turned_off():
    env = ENVIRONMENTS[0]
    validate(replace(env, pipeline=replace(env.pipeline, agent_safety_refresh_seconds=0)))
