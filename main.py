"""Synthesize every selected environment's stacks into cdktf.out.

Select environments with ECS_ENVS (comma-separated, e.g. `ECS_ENVS=dev`); all by default.
Needs no AWS credentials and no network.
"""

from __future__ import annotations

import sys
from typing import Sequence

from settings.environments import select_from_environment
from settings.schema import EnvironmentSettings
from settings.validation import SettingsError


def build_app(envs: Sequence[EnvironmentSettings], outdir: str | None = None):
    """An App holding every stack of every env in `envs` (imports cdktf lazily)."""
    from engine.core import App

    from stacks.cluster import ClusterStack
    from stacks.config_pipeline import ConfigPipelineStack
    from stacks.network import NetworkStack
    from stacks.registry import RegistryStack
    from stacks.services import ServicesStack

    app = App(outdir=outdir) if outdir else App()
    for env in envs:
        network = NetworkStack(app, env)
        cluster = ClusterStack(app, env, network)
        pipeline = ConfigPipelineStack(app, env)
        registry = RegistryStack(app, env)
        ServicesStack(app, env, network, cluster, pipeline, registry)
    return app


def main() -> int:
    """Validate the env table first (fast, clear errors), then synthesize."""
    try:
        envs = select_from_environment()
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    build_app(envs).synth()
    return 0


def run_and_exit_promptly() -> None:
    """`python main.py`: main(), then exit as soon as the output is flushed (engine.lifecycle)."""
    from engine.lifecycle import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    run_and_exit_promptly()
