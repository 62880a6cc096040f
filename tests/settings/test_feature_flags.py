"""Feature-flag profiles: the flag set is checked in the settings layer, one clear error each."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from settings.services import FEATURE_FLAGS, ConfigProfileSpec
from settings.validation import SettingsError, validate
from tests.tables import SAMPLE as ENVIRONMENTS

DEV = next(e for e in ENVIRONMENTS if e.name == "dev")
FLAGS = {
    "version": "1",
    "flags": {
        "checkout": {
            "name": "New checkout",
            "description": "the v2 flow",
            "attributes": {"limit": {"constraints": {"type": "number"}}},
        },
        "dark-mode": {"name": "Dark mode"},
    },
    "values": {"checkout": {"enabled": True, "limit": 5}, "dark-mode": {"enabled": False}},
}


def flags_env(content=FLAGS, **spec):
    """dev with web's profile turned into a feature-flag profile."""
    profile = ConfigProfileSpec(name="flags", type=FEATURE_FLAGS, initial_content=content, **spec)
    web, *rest = DEV.services
    return replace(DEV, services=(web.with_(config_profile=profile), *rest))


def _changed(path, value):
    content = copy.deepcopy(FLAGS)
    *parents, last = path
    target = content
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return content


def test_a_valid_flag_set_passes_and_freeform_stays_the_default():
    assert validate(flags_env()) is not None
    assert ConfigProfileSpec().type == "AWS.Freeform"
    assert validate(flags_env({"version": "1"})) is not None  # no flags yet is valid


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (_changed(["version"], None), "version must be one of ['1']"),
        (_changed(["version"], 1), "version must be one of ['1'] (a string)"),
        (_changed(["extra"], {}), "unknown top-level keys ['extra']"),
        (_changed(["flags", "Checkout"], {}), "flags.Checkout: key must match"),
        (
            _changed(["flags", "checkout", "enabled"], True),
            "flags.checkout: unknown keys ['enabled']",
        ),
        (
            _changed(["values", "ghost"], {"enabled": True}),
            "values.ghost: no flag with this key is defined",
        ),
        (
            _changed(["values", "dark-mode", "enabled"], "yes"),
            "values.dark-mode: must be an object with a boolean 'enabled'",
        ),
        (
            _changed(["values", "checkout", "colour"], "red"),
            "values.checkout: attributes ['colour'] are not declared",
        ),
        (_changed(["flags"], []), "flags and values must be objects"),
    ],
)
def test_a_bad_flag_set_is_one_clear_error(content, detail):
    with pytest.raises(SettingsError) as err:
        validate(flags_env(content))
    message = str(err.value)
    assert message.startswith(
        "environment 'dev': services[web].config_profile.initial_content: "
        "is not an AppConfig feature-flag set: "
    ), message
    assert detail in message and "\n" not in message


def test_feature_flag_profiles_take_no_json_schema_and_unknown_types_are_refused():
    with pytest.raises(
        SettingsError,
        match=r"config_profile.json_schema: feature-flag profiles "
        r"take no JSON schema",
    ):
        validate(flags_env(json_schema={"type": "object", "required": ["x"]}))
    web, *rest = DEV.services
    odd = replace(
        DEV, services=(web.with_(config_profile=ConfigProfileSpec(type="AWS.Odd")), *rest)
    )
    with pytest.raises(SettingsError, match=r"config_profile.type: 'AWS.Odd' must be one of"):
        validate(odd)
