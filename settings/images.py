"""Which container images an environment builds itself, and where they are pushed.

One source for the registry stack (one ECR repository per image), the services stack (task
definitions reference `<repository url>:<tag>`) and `scripts/images.py` (build and push), so
the images the services pull are exactly the ones the README's push step pushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.capacity import service_architecture

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

CONFIG_AGENT_REPOSITORY = "config-agent"
CONFIG_AGENT_DOCKERFILE = "config_agent/Dockerfile"
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
"""Docker platform of an image that runs on instances of each architecture."""


@dataclass(frozen=True)
class ImageBuild:
    """One image the env builds from this repository and pushes to its own ECR repository."""

    repository: str
    """ECR repository name; the registry stack creates it."""
    dockerfile: str
    """Dockerfile path from the repository root, which is also the build context."""
    platforms: tuple[str, ...]
    """`linux/amd64` and/or `linux/arm64`: every CPU architecture a task using the image runs
    on (the config agent runs beside every service, so it may need both)."""


def built_images(env: "EnvironmentSettings") -> tuple[ImageBuild, ...]:
    """The config agent (unless overridden) and every service declared without `image`."""
    platform = {spec.name: PLATFORMS[service_architecture(spec, env.cluster)]
                for spec in env.services}
    images = []
    if env.services_settings.config_agent_image is None:
        images.append(ImageBuild(CONFIG_AGENT_REPOSITORY, CONFIG_AGENT_DOCKERFILE,
                                 tuple(sorted(set(platform.values())))))
    for spec in env.services:
        if spec.image is None and spec.dockerfile is not None:
            images.append(ImageBuild(spec.name, spec.dockerfile, (platform[spec.name],)))
    return tuple(images)


def registry_host(env: "EnvironmentSettings") -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com`: the env's private ECR registry."""
    return f"{env.account_id}.dkr.ecr.{env.region}.amazonaws.com"
