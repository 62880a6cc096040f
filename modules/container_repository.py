"""An ECR repository for images an environment builds itself (config-agent, build contexts)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from engine.aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
)
from constructs import Construct

DEFAULT_KEEP_IMAGES = 30


@dataclass(frozen=True)
class ContainerRepositoryProps:
    """Repository name and how many images to keep."""

    name: str
    keep_images: int = DEFAULT_KEEP_IMAGES
    kms_key_arn: str | None = None
    """Customer key; the AWS-managed ECR key (still KMS) when None."""


class ContainerRepository(Construct):
    """Immutable tags, scan on push, KMS encryption, bounded image count; exposes `.url`."""

    def __init__(self, scope: Construct, id_: str, props: ContainerRepositoryProps) -> None:
        super().__init__(scope, id_)
        if props.keep_images < 1:
            raise ValueError("keep_images must be at least 1")
        encryption = EcrRepositoryEncryptionConfiguration(
            encryption_type="KMS", **({"kms_key": props.kms_key_arn} if props.kms_key_arn else {}))
        self.repository = EcrRepository(
            self, "Repository", name=props.name, image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configuration=[encryption], force_delete=False)
        EcrLifecyclePolicy(self, "Lifecycle", repository=self.repository.name,
                           policy=json.dumps({"rules": [{
                               "rulePriority": 1,
                               "description": f"keep the newest {props.keep_images} images",
                               "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                             "countNumber": props.keep_images},
                               "action": {"type": "expire"}}]}))
        self.url = self.repository.repository_url
        self.arn = self.repository.arn

    def image(self, tag: str) -> str:
        """`<repository url>:<tag>`."""
        return f"{self.url}:{tag}"
