"""Property: whatever one settings field is changed to, `main.main` ends in a successful synth
or in exactly one `invalid settings:` line and exit code 2; never in another exception.

Hypothesis picks an environment of the shipped table, a field anywhere in it (services and
nested specs included) and a new value: plausible ones around the limits AWS sets, and values
of the wrong type.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.tables import SAMPLE as ENVIRONMENTS

JUNK = (None, -1, "x", 1.5, (), {}, True)
"""Values of the wrong type for most fields."""
STRINGS = (
    "",
    "dev",
    "Dev",
    "us-east-1",
    "eu-north-1",
    "10.0.0.0/16",
    "10.0.0.0/8",
    "192.168.0.0/24",
    "m7g.large",
    "t3.micro",
    "t3",
    "arn:aws:iam::111111111111:role/x",
    "arn:aws:sns:us-west-2:111111111111:alarms",
    "cron(0 1 ? * * *)",
    "0 1 * * *",
    "UTC",
    "Europe/Berlin",
    "/health",
    "health",
    "web",
    "worker",
    "config-agent",
    "x" * 70,
    "a b",
    "linear",
    "x86_64",
    "arm64",
)
INTS = (-1, 0, 1, 2, 3, 7, 29, 30, 31, 100, 101, 1000, 1001, 1440, 1441, 65535, 65536, 100001)
TUPLES = (
    (),
    ("web",),
    ("worker",),
    ("web", "web"),
    ("a", "a"),
    ("t3.large", "m7g.large"),
    ("m6i.large", "m6a.large"),
    ("0.0.0.0/0",),
    ("nope",),
)
MAPPINGS = ({}, {"a": "b"}, {"a": 1}, {"Team": "x" * 300})


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths (field names and tuple indexes) to every field that is not itself a record."""
    if dataclasses.is_dataclass(value):
        paths = [path] if path else []
        for field in dataclasses.fields(value):
            paths += _leaves(getattr(value, field.name), (*path, field.name))
        return paths
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        paths = [path]
        for i, item in enumerate(value):
            paths += _leaves(item, (*path, i))
        return paths
    return [path]


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(value)
        items[head] = _replace(items[head], rest, new)
        return tuple(items)
    return dataclasses.replace(value, **{head: _replace(getattr(value, head), rest, new)})


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step] if isinstance(step, int) else getattr(value, step)
    return value


def _values_like(current: Any) -> st.SearchStrategy:
    junk = st.sampled_from(JUNK)
    if isinstance(current, bool):
        return st.one_of(st.booleans(), junk)
    if isinstance(current, enum.Enum):
        return st.one_of(st.sampled_from(list(type(current))), junk)
    if isinstance(current, int):
        return st.one_of(st.sampled_from(INTS), st.integers(-(10**6), 10**6), junk)
    if isinstance(current, str):
        return st.one_of(st.sampled_from(STRINGS), st.text(max_size=12), junk)
    if isinstance(current, tuple):
        return st.one_of(st.sampled_from(TUPLES), junk)
    if isinstance(current, dict) or hasattr(current, "items"):
        return st.one_of(st.sampled_from(MAPPINGS), junk)
    return st.one_of(st.sampled_from(STRINGS), st.sampled_from(INTS), junk)


@st.composite
def mutated_envs(draw: st.DrawFn) -> tuple[Any, tuple, Any]:
    env = draw(st.sampled_from(ENVIRONMENTS))
    path = draw(st.sampled_from(_leaves(env)))
    new = draw(_values_like(_get(env, path)))
    return env, path, new


@settings(
    max_examples=int(os.environ.get("SETTINGS_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated_envs())
def test_any_single_change_ends_in_a_synth_or_one_settings_line(case, monkeypatch, capsys):
    import main

    env, path, new = case
    mutated = _replace(env, path, new)
    monkeypatch.delenv("ECS_ENVS", raising=False)
    with tempfile.TemporaryDirectory() as out:
        code = main.main(table=(mutated,), outdir=out)
        err = capsys.readouterr().err
        where = f"{env.name}.{'.'.join(map(str, path))} = {new!r}"
        event("invalid settings (exit 2)" if code == 2 else "synthesized")
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("invalid settings: "), (where, err)
        else:
            assert code == 0, (where, err)
            stacks = sorted(p.name for p in (Path(out) / "stacks").iterdir())
            assert len(stacks) == len(main.STACKS_IN_DEPLOY_ORDER), (where, stacks)
