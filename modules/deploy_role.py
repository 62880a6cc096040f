"""The role a pipeline assumes to deploy one env: what the five stacks manage, and no more than
IAM lets us say.

Breadth, honestly: each service the stacks use gets its actions at the service level (`ecs:*`),
limited to resource ARNs named `<env>-*` (or `/<env>/*` paths, or the env's ECR repositories)
where the service authorization reference lists a resource type for them; a few services
(EC2, KMS, AppConfig, Application Auto Scaling, Cloud Map, Route 53, ACM, WAF) create resources
whose ARNs hold only generated ids, so their actions get `*` limited to the env's region
(`aws:RequestedRegion`; Route 53 is global). Resource types per service:
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
State: the S3 backend's documented permissions, on the env's own state keys only:
https://developer.hashicorp.com/terraform/language/backend/s3#s3-bucket-permissions
What remains: `iam:*` on `role/<env>-*` lets the pipeline write any inline policy on its own
roles (a permissions boundary would close that; managed-policy attachments are limited to the
ones the stacks attach). The role's own name must fall outside `<env>-*`, so it cannot edit
itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from engine.aws.iam_role import IamRole
from engine.aws.iam_role_policy import IamRolePolicy
from modules.checkov_skips import skip_checks
from modules.deploy_policy import DeployPolicyScope, deploy_statements, role_name_problem
from modules.iam import policy_json

DEPLOY_ROLE_SKIPS = {
    "CKV2_AWS_40": "deploy role: full IAM only on role/<env>-*, instance-profile/<env>-* and "
    "policy/<env>-* (the env's own roles), managed attachments limited"
}
ACCOUNT_TRUST_SKIP = {
    "CKV_AWS_61": "the account root as principal delegates to the account's IAM: only "
    "principals whose own policy grants sts:AssumeRole on this role can assume "
    "it; BOOTSTRAP_TRUST names the pipeline's principals instead"
}


@dataclass(frozen=True)
class PipelineRoleProps:
    """The role's name, who may assume it, and what it may do."""

    name: str
    """Must not start with `<env>-`: the policy manages role/<env>-*."""
    path: str
    """`/`, or the path in the settings' role ARN (`role/<path>/<name>`)."""
    trusted: tuple[str, ...]
    """Principal ARNs allowed to assume it (default in the stack: the account root)."""
    external_id: str | None
    scope: DeployPolicyScope


class PipelineRole(Construct):
    """The env's deploy role (`DeployRole` in the settings) and its inline policy."""

    def __init__(self, scope: Construct, id_: str, props: PipelineRoleProps) -> None:
        super().__init__(scope, id_)
        if problem := role_name_problem(props.scope.env, f"{props.path}{props.name}"):
            raise ValueError(problem)
        trust: dict[str, Any] = {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": list(props.trusted)},
        }
        if props.external_id:
            trust["Condition"] = {"StringEquals": {"sts:ExternalId": props.external_id}}
        self.role = IamRole(
            self,
            "Role",
            name=props.name,
            path=props.path,
            max_session_duration=3600,
            assume_role_policy=json.dumps(
                {"Version": "2012-10-17", "Statement": [trust]}, sort_keys=True
            ),
        )
        if any(arn.endswith(":root") for arn in props.trusted):
            skip_checks(self.role, ACCOUNT_TRUST_SKIP)
        self.arn = self.role.arn
        self.policy = IamRolePolicy(
            self,
            "Policy",
            name="deploy-env",
            role=self.role.id,
            policy=policy_json(*deploy_statements(props.scope)),
        )
        skip_checks(self.policy, DEPLOY_ROLE_SKIPS)
