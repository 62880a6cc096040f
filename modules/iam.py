"""IAM policy documents as plain JSON, built once here rather than inline in every construct."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from settings.naming import PARTITION

Statement = Mapping[str, Any]


def statement(actions: Sequence[str], resources: Sequence[str], *, sid: str | None = None,
              effect: str = "Allow", condition: Mapping[str, Any] | None = None,
              principal: Mapping[str, Any] | None = None) -> dict[str, Any]:
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


def assume_role_policy(service: str, account_id: str,
                       source_arn_like: str | None = None) -> str:
    """Trust policy for an AWS service principal, confused-deputy protected by source account."""
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn_like:
        condition["ArnLike"] = {"aws:SourceArn": source_arn_like}
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }]}, sort_keys=True)


def managed_policy_arn(name: str) -> str:
    """ARN of an AWS-managed policy, e.g. `service-role/AmazonECSTaskExecutionRolePolicy`."""
    return f"arn:{PARTITION}:iam::aws:policy/{name}"
