"""AppConfig feature-flag content (`AWS.AppConfig.FeatureFlags`), checked before synth.

The format is AppConfig's type reference,
https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-type-reference-feature-flags.html:

    {"version": "1",
     "flags":  {"<key>": {"name": "...", "description": "...",
                          "attributes": {"<attr>": {"constraints": {...}}}}},
     "values": {"<key>": {"enabled": true, "<attr>": <value>}}}

AppConfig validates it only when the first version is created, mid-apply; this catches the
structural mistakes at synth with one clear message. Beyond the reference, every value must name
a defined flag, carry a boolean `enabled`, and set only declared attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KEY = re.compile(r"^[a-z][a-zA-Z\d_-]{0,63}$")
"""Flag and attribute keys, as in the type reference's patternProperties."""
SCHEMA_VERSIONS = ("1",)
MAX_ATTRIBUTES = 25
_TOP = {"version", "flags", "values"}
_FLAG = {"name", "description", "_createdAt", "_updatedAt", "_deprecation", "attributes"}
_VALUE_META = {"enabled", "_createdAt", "_updatedAt", "_variants"}


def problem(content: object) -> str | None:
    """Why `content` is not a feature-flag set AppConfig accepts, or None."""
    if not isinstance(content, Mapping):
        return "must be an object with version, flags and values"
    extra = sorted(set(content) - _TOP)
    if extra:
        return f"unknown top-level keys {extra} (allowed: version, flags, values)"
    if content.get("version") not in SCHEMA_VERSIONS:
        return f"version must be one of {list(SCHEMA_VERSIONS)} (a string)"
    flags, values = content.get("flags", {}), content.get("values", {})
    if not isinstance(flags, Mapping) or not isinstance(values, Mapping):
        return "flags and values must be objects keyed by flag key"
    for key, flag in flags.items():
        reason = _flag_problem(key, flag)
        if reason:
            return f"flags.{key}: {reason}"
    for key, value in values.items():
        reason = _value_problem(key, value, flags)
        if reason:
            return f"values.{key}: {reason}"
    return None


def _flag_problem(key: str, flag: Any) -> str | None:
    if not KEY.match(key):
        return f"key must match {KEY.pattern}"
    if not isinstance(flag, Mapping):
        return "must be an object"
    extra = sorted(set(flag) - _FLAG)
    if extra:
        return f"unknown keys {extra}"
    attributes = flag.get("attributes", {})
    if not isinstance(attributes, Mapping) or len(attributes) > MAX_ATTRIBUTES:
        return f"attributes must be an object of at most {MAX_ATTRIBUTES}"
    bad = sorted(a for a in attributes if not KEY.match(a))
    return f"attribute keys {bad} must match {KEY.pattern}" if bad else None


def _value_problem(key: str, value: Any, flags: Mapping[str, Any]) -> str | None:
    if key not in flags:
        return "no flag with this key is defined under flags"
    if not isinstance(value, Mapping) or not isinstance(value.get("enabled"), bool):
        return "must be an object with a boolean 'enabled'"
    declared = set((flags[key] or {}).get("attributes", {}))
    undeclared = sorted(set(value) - _VALUE_META - declared)
    return f"attributes {undeclared} are not declared for this flag" if undeclared else None
