"""Parse SQS message bodies (EventBridge events, passed through unchanged) into changes.

Shapes are documented in README.md and built by devtools/events.py. Parsing never returns
or logs the body: a `MessageError` carries a short, value-free reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import contract as c

# The event names the pipeline's rules forward (contract.py): acting on fewer would send a
# forwarded event to the DLQ and leave its change unserved.
SECRET_API_CALLS = frozenset(c.SECRET_API_CALLS)
SECRET_SERVICE_EVENTS = frozenset(c.SECRET_SERVICE_EVENTS)
APPCONFIG_CALLS = frozenset(c.DEPLOYMENT_EVENTS)
_MAX_BODY = 256 * 1024  # SQS maximum; anything larger is not one of ours


class MessageError(ValueError):
    """Malformed or unknown message. `str()` is a short reason safe to log."""


@dataclass(frozen=True)
class SecretChanged:
    secret_id: str  # name, full ARN or partial ARN, as the caller gave it


@dataclass(frozen=True)
class DeploymentStarted:
    application_id: str
    environment_id: str
    profile_id: str
    deployment_number: int | None


Change = SecretChanged | DeploymentStarted


def _field(obj: Any, name: str) -> Any:
    """Case-lenient lookup: `applicationId`, `ApplicationId` and `applicationid` all match."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _text(obj: Any, name: str) -> str | None:
    value = _field(obj, name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise MessageError("body is not JSON") from None
    if not isinstance(doc, dict):
        raise MessageError("body is not a JSON object")
    return doc


def _unwrap_sns(doc: dict[str, Any]) -> dict[str, Any]:
    """The event inside an SNS envelope (a queue subscribed without raw message delivery).

    SNS wraps the published message as the string `Message` of a `Type: Notification` document
    (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html). Trusting it
    needs no signature check: the queue policy admits only the service's topic.
    """
    if doc.get("Type") == "Notification" and "TopicArn" in doc:
        message = doc.get("Message")
        if not isinstance(message, str):
            raise MessageError("SNS notification without a Message string")
        return _json_object(message)
    return doc


def parse(body: str) -> Change:
    """Turn one message body into the change it announces, or raise MessageError."""
    if len(body) > _MAX_BODY:
        raise MessageError("body too large")
    event = _unwrap_sns(_json_object(body))
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MessageError("event has no detail object")
    source = event.get("source")
    name = detail.get("eventName")
    if source == c.SECRETS_SOURCE:
        return _secret_change(name, detail)
    if source == c.APPCONFIG_SOURCE:
        return _deployment(name, detail)
    raise MessageError("unknown event source")


def _secret_change(name: Any, detail: dict[str, Any]) -> SecretChanged:
    if name in SECRET_API_CALLS:
        secret_id = _text(detail.get("requestParameters"), "secretId")
    elif name in SECRET_SERVICE_EVENTS:
        secret_id = _text(detail.get("additionalEventData"), "SecretId")
    else:
        raise MessageError("unknown secretsmanager event name")
    if secret_id is None:
        raise MessageError("secretsmanager event without a secret id")
    return SecretChanged(secret_id)


def _deployment(name: Any, detail: dict[str, Any]) -> DeploymentStarted:
    if name not in APPCONFIG_CALLS:
        raise MessageError("unknown appconfig event name")
    request, response = detail.get("requestParameters"), detail.get("responseElements")
    ids: list[str] = []
    for key in ("applicationId", "environmentId", "configurationProfileId"):
        value = _text(request, key) or _text(response, key)
        if value is None:
            raise MessageError(f"appconfig event without {key}")
        ids.append(value)
    number = _field(response, "deploymentNumber")
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        number = None  # optional: only used to ask GetDeployment about progress
    return DeploymentStarted(ids[0], ids[1], ids[2], number)


# --- matching events to configured items -----------------------------------------------------


def _strip_suffix(name: str) -> str | None:
    """`db-AbCdEf` -> `db`: the 6-character random suffix Secrets Manager adds to ARNs."""
    head, sep, tail = name.rpartition("-")
    if sep and head and len(tail) == 6 and tail.isalnum():
        return head
    return None


def secret_keys(secret_id: str) -> frozenset[str]:
    """Names a secret id may stand for: a name, or an ARN's name with/without its suffix.

    Both sides of a comparison go through this, so a name, a full ARN and a partial ARN of the
    same secret share a key. A rare false match only costs one extra (idempotent) refresh.
    """
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":", 6)
        if len(parts) == 7 and parts[5] == "secret" and parts[6]:
            name = parts[6]
            stripped = _strip_suffix(name)
            return frozenset(k for k in (name, stripped) if k)
        return frozenset({secret_id})
    return frozenset({secret_id})
