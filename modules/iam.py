"""IAM policy documents as plain JSON, built once here rather than inline in every construct."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from settings.naming import PARTITION

Statement = Mapping[str, Any]


def statement(
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    sid: str | None = None,
    effect: str = "Allow",
    condition: Mapping[str, Any] | None = None,
    principal: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One policy statement; actions must be explicit (no bare `*`)."""
    if any(a == "*" or a.endswith(":*") for a in actions):
        raise ValueError(f"wildcard action in {actions}: name the actions")
    st: dict[str, Any] = {"Effect": effect, "Action": list(actions), "Resource": list(resources)}
    if sid:
        st["Sid"] = sid
    if condition:
        st["Condition"] = dict(condition)
    if principal:
        st["Principal"] = dict(principal)
    return st


def policy_json(*statements: Statement) -> str:
    """A policy document; string tokens inside it resolve to Terraform references at synth."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def assume_role_policy(
    service: str, *, source_account: str | None = None, source_arn_like: str | None = None
) -> str:
    """Trust policy for an AWS service principal.

    Pass the confused-deputy conditions (`aws:SourceAccount`, `aws:SourceArn`) only where AWS
    documents them for that principal: a service that does not send the key when it assumes
    the role is then denied (e.g. EC2 fetching instance-profile credentials sends neither).
    """
    trust: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, Any] = {}
    if source_account:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn_like:
        condition["ArnLike"] = {"aws:SourceArn": source_arn_like}
    if condition:
        trust["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [trust]}, sort_keys=True)


def managed_policy_arn(name: str) -> str:
    """ARN of an AWS-managed policy, e.g. `service-role/AmazonECSTaskExecutionRolePolicy`."""
    return f"arn:{PARTITION}:iam::aws:policy/{name}"
