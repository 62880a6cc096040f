"""Both engines synthesize the same infrastructure, so switching needs no state move (issue 14).

The running engine's session synth is compared with the other engine's, run by that engine's
own venv (conftest: other_engine_synth). Allowed to differ: `//.metadata.version` (the engine's
version) and the aws entry of `terraform.required_providers` (each engine's prebuilt bindings
pin their own hashicorp/aws release). Everything else (resources, data sources, outputs,
backends, provider blocks, every attribute value) must be equal.
"""

from __future__ import annotations

import copy
import re

PROVIDER_SOURCES = {"aws", "hashicorp/aws", "registry.terraform.io/hashicorp/aws"}
"""Addresses Terraform reads as the same provider (a bare type means hashicorp/<type>)."""


def comparable(doc: dict) -> dict:
    """The stack minus what may differ between engines."""
    doc = copy.deepcopy(doc)
    doc.get("//", {}).get("metadata", {}).pop("version", None)
    doc.get("terraform", {}).get("required_providers", {}).pop("aws", None)
    return doc


def differences(a, b, path="") -> list[str]:
    """Every JSON path where a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in (
                differences(a[k], b[k], f"{path}.{k}")
                if k in a and k in b
                else [f"{path}.{k}: only in {'one' if k in a else 'other'}"]
            )
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r:.120} != {b!r:.120}"]


def addresses(doc: dict) -> set[str]:
    """Terraform addresses: what state is keyed by."""
    return {f"{t}.{n}" for t, block in doc.get("resource", {}).items() for n in block} | {
        f"data.{t}.{n}" for t, block in doc.get("data", {}).items() for n in block
    }


def test_both_engines_write_the_same_stacks(synth, other_engine_synth):
    assert synth.stack_names == other_engine_synth.stack_names
    assert len(synth.stack_names) >= 5


def test_resource_addresses_are_identical_so_state_needs_no_move(synth, other_engine_synth):
    for name in synth.stack_names:
        ours = addresses(synth.stack(name).doc)
        theirs = addresses(other_engine_synth.stack(name).doc)
        assert ours == theirs, (name, sorted(ours ^ theirs)[:20])
        assert ours, name


def test_every_stack_is_equal_but_for_engine_and_provider_versions(synth, other_engine_synth):
    found = {
        name: differences(
            comparable(synth.stack(name).doc), comparable(other_engine_synth.stack(name).doc)
        )
        for name in synth.stack_names
    }
    assert not any(found.values()), {n: d[:20] for n, d in found.items() if d}


def test_each_engine_pins_an_exact_hashicorp_aws_6_release(synth, other_engine_synth):
    for output in (synth, other_engine_synth):
        for name in output.stack_names:
            aws = output.stack(name).doc["terraform"]["required_providers"]["aws"]
            assert aws["source"] in PROVIDER_SOURCES, (name, aws)
            assert re.fullmatch(r"6\.\d+\.\d+", aws["version"]), (name, aws)
