"""Inline checkov suppressions on a synthesized resource, with the reason next to it.

checkov 3.3's `terraform_json` runner ignores inline `checkov:skip` comments (checked: it scans
with an empty skip list), so suppressions are written into the resource's `//` comment block in
checkov's own syntax and applied by `scripts/checkov_scan.py`, which also fails on stale skips.
"""

from __future__ import annotations

from engine.core import TerraformResource

SKIP_KEY = "checkov_skip"


def skip_checks(resource: TerraformResource, skips: dict[str, str]) -> None:
    """Record `checkov:skip=<ID>: <reason>` for each check that is wrong for this resource.

    Calls accumulate: a construct and its user may each skip checks on the same resource
    (the override holds the whole list, so a second call must not drop the first's skips).
    """
    if not skips:
        return
    for check_id, reason in skips.items():
        if not reason.strip():
            raise ValueError(f"skipping {check_id} needs a reason")
    merged: dict[str, str] = dict(getattr(resource, "_checkov_skips", {}))
    for check_id, reason in skips.items():
        if merged.get(check_id, reason) != reason:
            raise ValueError(f"{check_id} is already skipped with another reason")
        merged[check_id] = reason
    # Python-side record of what the override holds; the jsii binding declares no such field.
    resource._checkov_skips = merged  # type: ignore[attr-defined]
    resource.add_override(
        f"//.{SKIP_KEY}",
        [f"checkov:skip={cid}: {reason}" for cid, reason in sorted(merged.items())],
    )


# Reasons shared by several constructs.
LOG_GROUP_DEFAULT_ENCRYPTION = (
    "CloudWatch Logs encrypts every log group at rest; these hold flow/app logs and never "
    "secret values, so a per-group CMK would add cost and key-policy coupling for no gain"
)
RETENTION_FROM_ENV_TABLE = (
    "retention is set per environment in the env table (short in dev/staging, 1 year+ in prod)"
)


def retention_skips(retention_days: int) -> dict[str, str]:
    """The 1-year-retention check only where the env table chose a shorter retention."""
    return {"CKV_AWS_338": RETENTION_FROM_ENV_TABLE} if retention_days < 365 else {}
