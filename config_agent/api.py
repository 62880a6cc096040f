"""The HTTP API, compatible with the Secrets Manager Agent and the AppConfig Agent.

Pure request -> response logic on the in-memory cache; the transport and its limits live in
server.py. Every answer is a `Response`; nothing here touches sockets.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .aws import AwsError
from .cache import Cache, Entry
from .contract import TOKEN_HEADER, VAULT_TOKEN_HEADER

_CONFIG_PREFIX = "/applications/"
# GetSecretValue: VersionStage 1-256 characters, VersionId 32-64 (Secrets Manager API reference).
_STAGE = re.compile(r"^[!-~]{1,256}$")
_VERSION_ID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
Health = Callable[[], "tuple[int, dict[str, Any]]"]
Select = Callable[[str, "str | None", "str | None"], Entry]
"""(configured secret id, versionStage, versionId) -> entry, fetched on first use."""


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """A short JSON error body; never echoes request data."""
    return Response(status, _json({"error": message}), headers=headers or {})


class Api:
    """Routes of one port: the main port serves everything, the secrets port only secrets."""

    def __init__(
        self,
        cache: Cache,
        token: str,
        health: Health,
        select: Select,
        *,
        secrets_only: bool = False,
        configuration_token: bool = True,
    ) -> None:
        self.cache = cache
        self.token = token.encode("utf-8")
        self.health = health
        self.select = select
        self.secrets_only = secrets_only  # the Secrets Manager Agent's port (2773)
        # The AppConfig Agent takes no token; a team may allow token-less configuration reads.
        # Secrets always need it.
        self.configuration_token = configuration_token

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        parts = urlsplit(target)
        path = parts.path
        if method not in ("GET", "HEAD"):
            return self._unauthorised(headers) or error(405, "method not allowed", {"Allow": "GET"})
        if path == "/health":
            status, doc = self.health()
            return Response(status, _json(doc))
        if path == "/ping":  # the Secrets Manager Agent's health path
            status, _ = self.health()
            return Response(status, b"healthy" if status == 200 else b"unhealthy", "text/plain")
        if path.startswith(_CONFIG_PREFIX) and not self.secrets_only:
            refused = self._unauthorised(headers) if self.configuration_token else None
            return refused or self._configuration(path, parse_qs(parts.query).get("flag"))
        refused = self._unauthorised(headers)
        if refused:
            return refused
        if path == "/secretsmanager/get":
            return self._secret(parse_qs(parts.query))
        if path.startswith("/v1/"):  # the Secrets Manager Agent's path style
            query = parse_qs(parts.query)
            query["secretId"] = [unquote(path[len("/v1/") :])]
            return self._secret(query)
        return error(404, "not found")

    def _unauthorised(self, headers: Mapping[str, str]) -> Response | None:
        # Checked in the Secrets Manager Agent's order: its own header, then Vault's.
        supplied = headers.get(TOKEN_HEADER)
        if supplied is None:
            supplied = headers.get(VAULT_TOKEN_HEADER)
        if supplied is None:
            return error(401, "missing token")
        # Header values arrive latin-1 decoded; re-encoding yields the bytes that were sent.
        given = supplied.strip().encode("latin-1", "replace")
        if not hmac.compare_digest(given, self.token):
            return error(403, "bad token")
        return None

    def _secret(self, query: dict[str, list[str]]) -> Response:
        secret_id = (query.get("secretId") or [""])[0]
        if not secret_id:
            return error(400, "secretId is required")
        stage = _first(query, "versionStage")
        version = _first(query, "versionId")
        if stage is not None and not _STAGE.match(stage):
            return error(400, "invalid versionStage")
        if version is not None and not _VERSION_ID.match(version):
            return error(400, "invalid versionId")
        configured, entry = self.cache.secret(secret_id)
        if configured is None:
            return error(404, "secret is not served by this agent")
        if stage in (None, "AWSCURRENT") and (
            version is None or (entry is not None and version == entry.version)
        ):
            return _entry(entry)
        try:
            return _entry(self.select(configured, stage, version))
        except AwsError as err:  # the code only: never AWS's message
            if err.missing:
                return error(404, "no such version of the secret")
            if err.retryable:
                return error(503, "not available yet", {"Retry-After": "5"})
            return error(400, err.code)

    def _configuration(self, path: str, flags: list[str] | None) -> Response:
        # /applications/<app>/environments/<env>/configurations/<profile>
        segs = [unquote(s) for s in path.split("/")]
        if (
            len(segs) != 7
            or segs[3] != "environments"
            or segs[5] != "configurations"
            or not all(segs[i] for i in (2, 4, 6))
        ):
            return error(404, "not found")
        known, entry = self.cache.configuration(f"{segs[2]}/{segs[4]}/{segs[6]}")
        if not known:
            return error(404, "configuration is not served by this agent")
        response = _entry(entry)
        return _only_flags(response, flags) if flags and response.status == 200 else response


def _only_flags(response: Response, flags: list[str]) -> Response:
    """`?flag=a&flag=b`: only those flags of a feature-flag configuration, as the AppConfig
    Agent answers (https://docs.aws.amazon.com/appconfig/latest/userguide/
    appconfig-integration-retrieving-feature-flags.html); unknown keys are left out."""
    try:
        doc = json.loads(response.body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return error(400, "flag filters need a feature-flag configuration (a JSON object)")
    subset = {key: doc[key] for key in dict.fromkeys(flags) if key in doc}
    return Response(200, _json(subset), "application/json", response.headers)


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    """The first value of query parameter `name`, if given."""
    values = query.get(name)
    return values[0] if values else None


def _entry(entry: Entry | None) -> Response:
    if entry is None:
        return error(503, "not available yet", {"Retry-After": "5"})
    version = entry.version
    headers = (
        {"Configuration-Version": version}
        if version and version.isascii() and version.isprintable()
        else {}
    )
    return Response(200, entry.body, entry.content_type, headers)
