"""A small EventBridge event-pattern matcher, enough to test the config pipeline's rules offline.

Implements the subset of EventBridge's event-pattern syntax the rules use (see
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html), with
EventBridge's semantics:

- A pattern is an object; every key in it must match (AND). Event keys not in the pattern are
  ignored. A key absent from the event fails the match (except `{"exists": false}`).
- A nested object matches a nested object in the event, recursively.
- A list holds candidates (OR). An event value matches if it equals a scalar candidate or
  satisfies a matcher candidate; an event list matches if any element does.
- Matchers: `{"prefix": s}`, `{"anything-but": v | [v...]}`, `{"exists": bool}`.
- `"$or": [pattern, ...]` at any object level: at least one sub-pattern must also match.

Anything else (numeric, suffix, wildcard, cidr, ...) raises `UnsupportedPattern` rather than
silently matching, so a test can never pass on a feature this matcher does not implement.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


class UnsupportedPattern(ValueError):
    """The pattern uses EventBridge syntax this matcher does not implement."""


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """True when `event` (a parsed event, or a nested part of one) satisfies `pattern`."""
    if not isinstance(pattern, dict):
        raise UnsupportedPattern(f"a pattern must be an object, got {pattern!r}")
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        if key == "$or":
            if not isinstance(expected, list) or len(expected) < 2:
                raise UnsupportedPattern("$or needs a list of at least two patterns")
            if not any(matches(alternative, event) for alternative in expected):
                return False
            continue
        actual = event.get(key, _MISSING)
        if isinstance(expected, dict):
            if actual is _MISSING or not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _matches_candidates(expected, actual):
                return False
        else:
            raise UnsupportedPattern(f"{key!r}: leaf values must be lists, got {expected!r}")
    return True


def _matches_candidates(candidates: list[Any], actual: Any) -> bool:
    if not candidates:
        raise UnsupportedPattern("an empty candidate list matches nothing in EventBridge")
    for candidate in candidates:
        if isinstance(candidate, dict) and "exists" in candidate:
            if len(candidate) != 1:
                raise UnsupportedPattern(f"unknown matcher {candidate!r}")
            if candidate["exists"] == (actual is not _MISSING):
                return True
    if actual is _MISSING:
        return False
    values = actual if isinstance(actual, list) else [actual]
    return any(
        _matches_value(c, v)
        for c in candidates
        for v in values
        if not (isinstance(c, dict) and "exists" in c)
    )


def _matches_value(candidate: Any, value: Any) -> bool:
    if isinstance(candidate, dict):
        if len(candidate) != 1:
            raise UnsupportedPattern(f"a matcher has exactly one key: {candidate!r}")
        ((op, arg),) = candidate.items()
        if op == "prefix":
            if not isinstance(arg, str):
                raise UnsupportedPattern(f"prefix takes a string: {candidate!r}")
            return isinstance(value, str) and value.startswith(arg)
        if op == "anything-but":
            excluded = arg if isinstance(arg, list) else [arg]
            if any(isinstance(x, (dict, list)) for x in excluded):
                raise UnsupportedPattern(f"nested anything-but is not supported: {candidate!r}")
            return not any(_same(x, value) for x in excluded)
        raise UnsupportedPattern(f"matcher {op!r} is not implemented")
    if isinstance(candidate, list):
        raise UnsupportedPattern(f"nested lists are not patterns: {candidate!r}")
    return _same(candidate, value)


def _same(candidate: Any, value: Any) -> bool:
    """Exact match; EventBridge compares strings case-sensitively and does not coerce types."""
    if isinstance(value, (dict, list)):
        return False
    if isinstance(candidate, bool) or isinstance(value, bool):
        return type(candidate) is type(value) and candidate == value
    return candidate == value
