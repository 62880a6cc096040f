"""Client of the config-agent sidecar's HTTP API (same paths and header as the AWS agents).

See config_agent/README.md, *HTTP API*. Secret values are reduced to a `SecretSummary` at once:
nothing in the samples keeps, returns or logs a value.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .settings import AgentSettings

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
# No proxy handler: the token goes to the loopback sidecar only, whatever HTTP_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AgentError(Exception):
    """The agent could not answer: `reason` is for logs, `public` for an HTTP client."""

    def __init__(self, reason: str, public: str = "config agent unavailable") -> None:
        super().__init__(reason)
        self.reason = reason
        self.public = public


@dataclass(frozen=True)
class Configuration:
    """A profile's parsed JSON body and its hosted version label, when known."""

    document: Any
    version: str | None


@dataclass(frozen=True)
class SecretSummary:
    """What may be shown about a secret: its size and version, never its value."""

    kind: str  # "string" or "binary"
    length: int
    version_id: str


class AgentClient:
    """Blocking GETs against the sidecar, with a short timeout (it answers from memory)."""

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings

    def _get(self, path: str) -> tuple[bytes, str | None]:
        request = urllib.request.Request(
            self._settings.url + path, headers={TOKEN_HEADER: self._settings.token}
        )
        try:
            with _OPENER.open(request, timeout=self._settings.timeout_seconds) as resp:
                return resp.read(), resp.headers.get("Configuration-Version")
        except urllib.error.HTTPError as err:
            err.close()
            raise AgentError(f"status {err.code}") from None
        except (OSError, ValueError) as err:  # refused, reset, timeout (URLError is an OSError)
            cause = getattr(err, "reason", None)  # URLError wraps the socket error
            raise AgentError(
                type(cause if isinstance(cause, BaseException) else err).__name__
            ) from None

    def configuration(self) -> Configuration:
        """The configured AppConfig profile, parsed as JSON."""
        s = self._settings
        body, version = self._get(
            "/applications/{}/environments/{}/configurations/{}".format(
                *(quote(part, safe="") for part in (s.application, s.environment, s.profile))
            )
        )
        try:
            return Configuration(json.loads(body), version)
        except ValueError:
            raise AgentError("configuration is not JSON", "configuration invalid") from None

    def secret_summary(self, secret_id: str) -> SecretSummary:
        """Length and version of one secret; the value is dropped here."""
        body, _ = self._get("/secretsmanager/get?secretId=" + quote(secret_id, safe=""))
        try:
            doc = json.loads(body)
            if doc.get("SecretString") is not None:
                kind, length = "string", len(doc["SecretString"])
            else:
                kind, length = "binary", len(base64.b64decode(doc["SecretBinary"]))
            return SecretSummary(kind, length, str(doc["VersionId"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AgentError("unexpected secret response") from None
