"""Run a sample the way its image would, without a Docker engine.

`Image.load` reads the Dockerfile's instructions; `stage` copies exactly what its COPY lines
copy into a temporary root, so a module the image forgets to copy fails the tests too; `argv`
and `env` give the ENTRYPOINT + CMD and ENV the container would run with. Only the exec (JSON)
forms are accepted: with them `python` is PID 1 and receives ECS's SIGTERM itself.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    return out


def _exec_form(text: str, what: str) -> list[str]:
    if not text.startswith("["):
        raise AssertionError(f"{what} must use the exec (JSON array) form: {text}")
    return json.loads(text)


@dataclass
class Image:
    dockerfile: Path
    base: str = ""
    workdir: str = "/"
    user: str = ""
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, dockerfile: Path) -> Image:
        image = cls(dockerfile)
        for keyword, rest in instructions(dockerfile):
            if keyword == "FROM":
                image.base = rest
            elif keyword == "WORKDIR":
                image.workdir = rest
            elif keyword == "USER":
                image.user = rest
            elif keyword == "ENV":
                image.env.update(item.split("=", 1) for item in shlex.split(rest))
            elif keyword == "EXPOSE":
                image.expose += [int(p.split("/")[0]) for p in rest.split()]
            elif keyword == "COPY":
                parts = [p for p in shlex.split(rest) if not p.startswith("--")]
                image.copies.append((parts[:-1], parts[-1]))
            elif keyword == "ENTRYPOINT":
                image.entrypoint = _exec_form(rest, "ENTRYPOINT")
            elif keyword == "CMD":
                image.cmd = _exec_form(rest, "CMD")
            elif keyword == "HEALTHCHECK":
                match = re.match(r"^((?:--\S+\s+)*)CMD\s+(.*)$", rest)
                assert match, f"HEALTHCHECK needs options then CMD: {rest}"
                image.healthcheck_options = dict(
                    opt[2:].partition("=")[::2] for opt in match.group(1).split()
                )
                image.healthcheck = _exec_form(match.group(2), "HEALTHCHECK")
        return image

    def stage(self, into: Path) -> Path:
        """Apply the COPY lines (context = repository root) under `into`; the WORKDIR there."""
        for sources, dest in self.copies:
            target = into / dest.lstrip("/")
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(
                        path,
                        target,
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"),
                    )
                elif dest.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
        workdir = into / self.workdir.lstrip("/")
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    @staticmethod
    def local(argv: list[str]) -> list[str]:
        """`python` is the image's interpreter; here, this venv's (same boto3 pin)."""
        return [sys.executable if arg == "python" else arg for arg in argv]

    @property
    def argv(self) -> list[str]:
        return self.local(self.entrypoint + self.cmd)

    def environment(self, **extra: str) -> dict[str, str]:
        """This process's variables (AWS endpoints, credentials) + the image's ENV + `extra`."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return {**env, **self.env, **extra}


def dockerfile(sample: str) -> Path:
    return ROOT / "samples" / sample / "Dockerfile"
