"""Which container images an environment builds itself, and where they are pushed.

One source for the registry stack (one ECR repository per image), the services stack (task
definitions reference `<repository url>:<tag>`) and `scripts/images.py` (build and push), so
the images the services pull are exactly the ones the README's push step pushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.capacity import service_architecture
from settings.naming import config_path

if TYPE_CHECKING:
    from settings.schema import EnvironmentSettings

CONFIG_AGENT_REPOSITORY = "config-agent"
TAG_PARAMETER = "image-tag"
"""Last part of each image's release parameter `/<env>/<repository>/image-tag`."""
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
    tag_parameter: str
    """SSM parameter holding the released tag (`/<env>/<repository>/image-tag`): the registry
    stack creates it at `services_settings.image_tag` and never resets it, a release
    (`scripts/images.py <env> --tag T --release`) overwrites it, and the services stack reads it
    at plan time, so a release is a Terraform plan of the services stack, never drift."""


def built_images(env: EnvironmentSettings) -> tuple[ImageBuild, ...]:
    """The config agent (unless overridden) and every service declared without `image`."""
    platform = {
        spec.name: PLATFORMS[service_architecture(spec, env.cluster)] for spec in env.services
    }
    images = []
    if env.services_settings.config_agent_image is None:
        images.append(
            ImageBuild(
                CONFIG_AGENT_REPOSITORY,
                CONFIG_AGENT_DOCKERFILE,
                tuple(sorted(set(platform.values()))),
                tag_parameter(env.name, CONFIG_AGENT_REPOSITORY),
            )
        )
    for spec in env.services:
        if spec.image is None and spec.dockerfile is not None:
            images.append(
                ImageBuild(
                    spec.name,
                    spec.dockerfile,
                    (platform[spec.name],),
                    tag_parameter(env.name, spec.name),
                )
            )
    return tuple(images)


def tag_parameter(env: str, repository: str) -> str:
    """`/<env>/<repository>/image-tag`: the SSM parameter naming an image's released tag."""
    return config_path(env, repository, TAG_PARAMETER)


def registry_host(env: EnvironmentSettings) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com`: the env's private ECR registry."""
    return f"{env.account_id}.dkr.ecr.{env.region}.amazonaws.com"
