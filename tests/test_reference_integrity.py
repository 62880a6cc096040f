"""Every `${...}` in every stack points at something that exists; state keys are unique."""

from __future__ import annotations

import re

from tests.synth_helpers import references

ADDRESS = re.compile(
    r"(?<![\w.])(data\.terraform_remote_state\.[\w-]+\.outputs\.[\w-]+"
    r"|data\.[a-z0-9_]+\.[\w-]+|aws_[a-z0-9_]+\.[\w-]+|var\.[\w-]+|local\.[\w-]+)")
BUILTINS = {"terraform.workspace"}


def _addresses(stack):
    for section in ("resource", "data", "output", "locals", "provider", "module"):
        for expression in references(stack.doc.get(section, {})):
            if expression in BUILTINS:
                continue
            yield from ADDRESS.findall(expression)


def _state_key(doc):
    backend = doc["terraform"].get("backend", {})
    if "s3" in backend:
        return ("s3", backend["s3"]["bucket"], backend["s3"]["key"])
    cloud = doc["terraform"]["cloud"]
    return ("cloud", cloud["organization"], cloud["workspaces"]["name"])


def test_every_reference_resolves(synth):
    by_key = {_state_key(synth.stack(n).doc): synth.stack(n) for n in synth.stack_names}
    checked = 0
    for name in synth.stack_names:
        stack = synth.stack(name)
        doc = stack.doc
        for address in _addresses(stack):
            checked += 1
            parts = address.split(".")
            if parts[0] == "data" and parts[1] == "terraform_remote_state":
                state = doc["data"]["terraform_remote_state"][parts[2]]
                producer = by_key.get(("s3", state["config"]["bucket"], state["config"]["key"]))
                assert producer is not None, f"{name}: {address} reads a state no stack writes"
                assert producer.name != name, f"{name} reads its own state"
                assert parts[4] in producer.doc.get("output", {}), (
                    f"{name}: {address} consumes output {parts[4]} that {producer.name} "
                    "does not produce")
                backend = producer.doc["terraform"]["backend"]["s3"]
                assert state["config"]["region"] == backend["region"]
            elif parts[0] == "data":
                assert parts[2] in doc.get("data", {}).get(parts[1], {}), f"{name}: {address}"
            elif parts[0] == "var":
                assert parts[1] in doc.get("variable", {}), f"{name}: {address}"
            elif parts[0] == "local":
                assert parts[1] in doc.get("locals", {}), f"{name}: {address}"
            else:
                assert parts[1] in doc.get("resource", {}).get(parts[0], {}), (
                    f"{name}: {address} points at a resource that does not exist")
    assert checked > 50


def test_no_two_stacks_share_state(synth):
    keys = [_state_key(synth.stack(n).doc) for n in synth.stack_names]
    assert len(keys) == len(set(keys))


def test_cross_stack_reads_stay_within_one_environment(synth):
    for name in synth.stack_names:
        env = name.rsplit("-", 1)[1]
        for state in synth.stack(name).data("terraform_remote_state").values():
            assert f"/{env}/" in state["config"]["key"], f"{name} reads {state['config']['key']}"
