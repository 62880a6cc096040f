"""Read synthesized stacks and follow Terraform references in them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{([^}]*)\}")


class SynthOutput:
    """A cdktf.out directory: one Stack per `stacks/<name>/cdk.tf.json`."""

    def __init__(self, outdir: Path | str) -> None:
        self.outdir = Path(outdir)
        self._stacks: dict[str, Stack] = {}

    @property
    def stack_names(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())

    def stack(self, name: str) -> Stack:
        """One stack's JSON, parsed once per output directory."""
        if name not in self._stacks:
            path = self.outdir / "stacks" / name / "cdk.tf.json"
            self._stacks[name] = Stack(name, json.loads(path.read_text()))
        return self._stacks[name]


class Stack:
    """One synthesized stack's JSON with lookup helpers."""

    def __init__(self, name: str, doc: dict[str, Any]) -> None:
        self.name = name
        self.doc = doc

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """{logical id: config} of every resource of a type (empty if none)."""
        return self.doc.get("resource", {}).get(rtype, {})

    def data(self, dtype: str) -> dict[str, dict[str, Any]]:
        return self.doc.get("data", {}).get(dtype, {})

    def one(self, rtype: str) -> tuple[str, dict[str, Any]]:
        """The single resource of a type; fails if there are zero or several."""
        found = self.resources(rtype)
        assert len(found) == 1, f"{self.name}: expected one {rtype}, found {sorted(found)}"
        return next(iter(found.items()))

    def ref(self, rtype: str, logical_id: str, attr: str) -> str:
        """The interpolation string another resource uses to point at this one."""
        return f"${{{rtype}.{logical_id}.{attr}}}"

    def counts(self) -> dict[str, int]:
        return {t: len(v) for t, v in sorted(self.doc.get("resource", {}).items())}


def references(value: Any) -> Iterator[str]:
    """Every `${...}` expression anywhere inside a JSON value."""
    if isinstance(value, str):
        yield from REFERENCE.findall(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)


def remote_output(synth: SynthOutput, consumer: Stack, expression: str) -> str:
    """Follow `${data.terraform_remote_state.X.outputs.Y}` to the producing stack's value."""
    m = re.fullmatch(r"\$\{data\.terraform_remote_state\.([^.]+)\.outputs\.([^}]+)\}", expression)
    assert m, f"{expression!r} is not a remote-state output reference"
    state = consumer.data("terraform_remote_state")[m.group(1)]
    producer_key = state["config"]["key"]
    for name in synth.stack_names:
        producer = synth.stack(name)
        backend = producer.doc["terraform"].get("backend", {}).get("s3", {})
        if backend.get("key") == producer_key:
            return producer.doc["output"][m.group(2)]["value"]
    raise AssertionError(f"no stack writes state key {producer_key}")


TABLE_SYNTH = (
    "import main\nfrom engine.lifecycle import run_and_exit\n"
    "from {0} import {1} as table\nrun_and_exit(lambda: main.main(table))"
)
"""`python -c` program: main.main over table `{1}` of module `{0}`, exiting as main.py does."""


class BackgroundSynth:
    """`python main.py` (the real entry point) writing every env into `outdir`, in a child process.

    Started as soon as it is created, so that slow synths overlap the tests that need none, and
    no test process pays the provider import or its teardown. `engine` and `python` default to
    the running ones; `plain` sets ECS_ENGINE_PLAIN=1 (the unoptimized reference path); `table`
    ("module:NAME") synthesizes another table than settings/environments.py's.
    """

    def __init__(
        self,
        outdir: Path | str,
        *,
        engine: str | None = None,
        plain: bool = False,
        python: str | None = None,
        table: str | None = None,
    ) -> None:
        import os
        import subprocess
        import sys

        self.outdir = Path(outdir)
        env = {
            **os.environ,
            "CDKTF_OUTDIR": str(outdir),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CHECKPOINT_DISABLE": "1",
        }
        for name in ("ECS_ENVS", "ECS_ENGINE_PLAIN"):
            env.pop(name, None)
        if engine:
            env["ECS_ENGINE"] = engine
        if plain:
            env["ECS_ENGINE_PLAIN"] = "1"
        root = Path(__file__).resolve().parent.parent
        # `table` ("module:NAME") synthesizes that table instead of settings/environments.py's.
        command = ["main.py"] if table is None else ["-c", TABLE_SYNTH.format(*table.split(":"))]
        self._process = subprocess.Popen(
            [python or sys.executable, *command],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, timeout: float = 600) -> SynthOutput:
        """Wait for the synth; its output, or an assertion with its exit status and stderr."""
        _, stderr = self._process.communicate(timeout=timeout)
        code = self._process.returncode
        assert code == 0, f"main.py exited {code}:\n{stderr[-4000:]}"
        return SynthOutput(self.outdir)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()
