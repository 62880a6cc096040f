"""One helper for every AWS name and config path, so the conventions live in one place."""

from __future__ import annotations

import re

PARTITION = "aws"
PLATFORM = "platform"
"""Service slot used in names of shared infrastructure (VPC, cluster, trail)."""

AGENT_TOKEN_SECRET = "config-agent-token"
"""Short name of each service's config-agent token secret: `/<env>/<service>/config-agent-token`."""

_NAME_PART = re.compile(r"^[a-z][a-z0-9-]*$")
_WORD_SEPARATOR = re.compile(r"[-_.]")


def _check(part: str, what: str) -> str:
    if not _NAME_PART.match(part):
        raise ValueError(
            f"{what} {part!r} must be lowercase letters, digits and '-', starting with a letter"
        )
    return part


def resource_name(env: str, service: str, purpose: str) -> str:
    """`<env>-<service>-<purpose>`, the name of an AWS resource."""
    return "-".join(
        _check(p, w) for p, w in ((env, "env"), (service, "service"), (purpose, "purpose"))
    )


def cluster_name(env: str) -> str:
    """`<env>-platform-cluster`: the env's one ECS cluster (the config stack's reaper needs
    its name before the cluster stack exists as a reference)."""
    return resource_name(env, PLATFORM, "cluster")


def config_path(env: str, service: str, *parts: str) -> str:
    """`/<env>/<service>/<part>/...`, the name of a secret or config parameter."""
    return "/" + "/".join([_check(env, "env"), _check(service, "service"), *parts])


def log_group_name(env: str, service: str) -> str:
    """`/ecs/<env>-<service>`, the CloudWatch log group of a service's containers."""
    return f"/ecs/{_check(env, 'env')}-{_check(service, 'service')}"


def stack_name(stack: str, env: str) -> str:
    """`<stack>-<env>`, e.g. `network-dev`: the cdktf stack and its directory in cdktf.out."""
    return f"{_check(stack, 'stack')}-{_check(env, 'env')}"


def state_key(prefix: str, env: str, stack: str) -> str:
    """`<prefix>/<env>/<stack>.tfstate`, the S3 object holding a stack's state."""
    return f"{prefix.strip('/')}/{env}/{stack}.tfstate"


def pascal_case(name: str) -> str:
    """`db-password` -> `DbPassword`, `ecr.api` -> `EcrApi`: the construct id part for a name.

    Construct ids are Terraform addresses: the same name must always give the same id.
    """
    return "".join(part.capitalize() for part in _WORD_SEPARATOR.split(name))
