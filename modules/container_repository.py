"""An ECR repository for images an environment builds itself (config-agent, build contexts)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct

from engine.aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from engine.aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
)
from engine.aws.ssm_parameter import SsmParameter
from engine.core import TerraformResourceLifecycle
from modules.checkov_skips import skip_checks

DEFAULT_KEEP_IMAGES = 30


@dataclass(frozen=True)
class ContainerRepositoryProps:
    """Repository name and how many images to keep."""

    name: str
    keep_images: int = DEFAULT_KEEP_IMAGES
    """Older images expire; default the newest 30 (a rollback needs a recent one)."""


class ContainerRepository(Construct):
    """Immutable tags, scan on push, KMS encryption (the AWS-managed ECR key: pulls need no
    key grant), bounded image count; exposes `.url`."""

    def __init__(self, scope: Construct, id_: str, props: ContainerRepositoryProps) -> None:
        super().__init__(scope, id_)
        if props.keep_images < 1:
            raise ValueError("keep_images must be at least 1")
        encryption = EcrRepositoryEncryptionConfiguration(encryption_type="KMS")
        self.repository = EcrRepository(
            self,
            "Repository",
            name=props.name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configuration=[encryption],
            force_delete=False,
        )
        EcrLifecyclePolicy(
            self,
            "Lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the newest {props.keep_images} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": props.keep_images,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
        )
        self.url = self.repository.repository_url
        self.arn = self.repository.arn

    def image(self, tag: str) -> str:
        """`<repository url>:<tag>`."""
        return f"{self.url}:{tag}"

    def track_releases(self, parameter_name: str, initial_tag: str) -> SsmParameter:
        """An SSM parameter holding the released tag, created at `initial_tag`.

        Terraform ignores later values: releases overwrite it (`aws ssm put-parameter`) and the
        services stack reads it at plan time, so a release never shows up as drift here.
        """
        self.release_parameter = SsmParameter(
            self,
            "ReleasedTag",
            name=parameter_name,
            type="String",
            tier="Standard",
            insecure_value=initial_tag,
            description=f"Released tag of {self.repository.name}; written by each release",
            lifecycle=TerraformResourceLifecycle(ignore_changes=["insecure_value"]),
        )
        skip_checks(
            self.release_parameter,
            {
                "CKV2_AWS_34": "an image tag is public build metadata, not a secret; a "
                "SecureString would hide the image in every services plan"
            },
        )
        return self.release_parameter
