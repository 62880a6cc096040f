"""Registry stack: the ECR repositories of the images this environment builds itself.

Applied before `services-<env>`, so the README's order works literally: apply registry, build
and push the images (`make images ENV=<env>`), then apply services, whose task definitions
pull `<repository url>:<released tag>` from here; the released tag is the value of each image's
SSM parameter (created here at `services_settings.image_tag`, overwritten by releases).
"""

from __future__ import annotations

from constructs import Construct

from engine.core import TerraformOutput
from modules.container_repository import ContainerRepository, ContainerRepositoryProps
from settings.images import built_images
from settings.naming import pascal_case
from settings.schema import EnvironmentSettings
from stacks.base import EnvironmentStack


class RegistryStack(EnvironmentStack):
    """One immutable-tag, scanned, encrypted ECR repository per image the env builds, each with
    the SSM parameter naming its released tag."""

    kind = "registry"

    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, env)
        self.repositories: dict[str, ContainerRepository] = {}
        for build in built_images(env):
            repository = ContainerRepository(
                self,
                f"Repository{pascal_case(build.repository)}",
                ContainerRepositoryProps(name=build.repository),
            )
            repository.track_releases(build.tag_parameter, env.services_settings.image_tag)
            self.repositories[build.repository] = repository
        TerraformOutput(
            self,
            "repository_urls",
            value={name: repo.url for name, repo in self.repositories.items()},
        )

    def image(self, repository: str, tag: str) -> str:
        """`<repository url>:<tag>` of an image this env builds (KeyError if it builds none)."""
        return self.repositories[repository].image(tag)
