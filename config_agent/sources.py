"""Fetch secrets (GetSecretValue) and configurations (AppConfig data plane)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .aws import Aws, AwsError
from .logs import REDACTOR, secret_fragments
from .settings import ProfileRef

# AppConfig data-plane tokens are valid for 24 h; an idle push-driven agent can easily exceed
# that, so a session older than this is replaced instead of risking BadRequestException.
_SESSION_MAX_AGE = 23 * 3600
# The smallest minimum poll interval AppConfig accepts. Calling GetLatestConfiguration again
# sooner may be refused, so an event arriving earlier starts a fresh session instead.
_MIN_POLL_INTERVAL = 15


@dataclass(frozen=True)
class SecretValue:
    arn: str
    name: str
    version_id: str
    stages: tuple[str, ...]
    created: str | None  # seconds since epoch with fraction, as the AWS agent renders it
    string: str | None = field(default=None, repr=False)
    binary: bytes | None = field(default=None, repr=False)

    def response_json(self) -> bytes:
        """The GetSecretValue fields, shaped like the AWS Secrets Manager Agent's response."""
        doc: dict[str, Any] = {"ARN": self.arn, "Name": self.name, "VersionId": self.version_id}
        if self.string is not None:
            doc["SecretString"] = self.string
        if self.binary is not None:
            doc["SecretBinary"] = base64.b64encode(self.binary).decode("ascii")
        doc["VersionStages"] = list(self.stages)
        doc["CreatedDate"] = self.created
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    def file_bytes(self) -> bytes:
        if self.string is not None:
            return self.string.encode("utf-8")
        return self.binary or b""


def _epoch(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    text = repr(value.timestamp())
    return text[:-2] if text.endswith(".0") else text


def fetch_secret(
    aws: Aws,
    secret_id: str,
    stage: str | None = "AWSCURRENT",
    version_id: str | None = None,
    *,
    retries: int | None = None,
    health: bool = True,
) -> SecretValue:
    """GetSecretValue for a stage and/or version (AWSCURRENT by default).

    Values are registered for log redaction at once.
    """
    # The stage is explicit although AWSCURRENT is AWS's default: after UpdateSecretVersionStage
    # moto 5.2 answers a stage-less call with the previous version, and being explicit costs
    # nothing against the real API.
    params = {"SecretId": secret_id}
    if stage is not None:
        params["VersionStage"] = stage
    if version_id is not None:
        params["VersionId"] = version_id
    resp = aws.call("secretsmanager", "get_secret_value", retries=retries, health=health, **params)
    string, binary = resp.get("SecretString"), resp.get("SecretBinary")
    return redacted(
        SecretValue(
            arn=str(resp.get("ARN", "")),
            name=str(resp.get("Name", secret_id)),
            version_id=str(resp.get("VersionId", "")),
            stages=tuple(resp.get("VersionStages") or ()),  # [] for a version with no label
            created=_epoch(resp.get("CreatedDate")),
            string=string if isinstance(string, str) else None,
            binary=bytes(binary) if isinstance(binary, (bytes, bytearray)) else None,
        )
    )


def redacted(value: SecretValue) -> SecretValue:
    """Register the value with the log redactor (whenever a value enters the agent)."""
    if value.string is not None:
        REDACTOR.add(secret_fragments(value.string))
    if value.binary is not None:
        REDACTOR.add([base64.b64encode(value.binary).decode("ascii")])
    return value


@dataclass(frozen=True)
class ConfigValue:
    body: bytes = field(repr=False)
    content_type: str
    version_label: str | None


@dataclass
class _Session:
    token: str
    started: float
    last_poll: float = 0.0
    next_interval: float = _MIN_POLL_INTERVAL


class ConfigFetcher:
    """AppConfig data plane: one configuration session per profile, polled only on demand."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._sessions: dict[str, _Session] = {}

    def _start(self, ref: ProfileRef) -> _Session:
        resp = self._aws.call(
            "appconfigdata",
            "start_configuration_session",
            ApplicationIdentifier=ref.application,
            EnvironmentIdentifier=ref.environment,
            ConfigurationProfileIdentifier=ref.profile,
            RequiredMinimumPollIntervalInSeconds=_MIN_POLL_INTERVAL,
        )
        session = _Session(str(resp["InitialConfigurationToken"]), time.monotonic())
        self._sessions[ref.key] = session
        return session

    def fetch(self, ref: ProfileRef, current: ConfigValue | None) -> ConfigValue | None:
        """Return new content, or None when AppConfig says it is unchanged (empty body)."""
        now = time.monotonic()
        session = self._sessions.get(ref.key)
        fresh = (
            session is None
            or current is None
            or now - session.started > _SESSION_MAX_AGE
            or now - session.last_poll < session.next_interval
        )
        if fresh:
            session = self._start(ref)
        assert session is not None
        try:
            resp = self._poll(session)
        except AwsError as err:
            if fresh or err.code != "BadRequestException":
                raise
            # Expired or too-early token: a new session returns the full current content.
            session = self._start(ref)
            resp = self._poll(session)
            fresh = True
        body = resp.get("Configuration")  # botocore's StreamingBody
        data = b"" if body is None else body.read() if hasattr(body, "read") else body
        if not data:
            # Empty means "unchanged since this session's last poll". On a new session the
            # content itself is empty (allowed by AppConfig), which is a real value.
            if fresh:
                return ConfigValue(
                    b"",
                    resp.get("ContentType") or "application/octet-stream",
                    resp.get("VersionLabel") or None,
                )
            return None
        return ConfigValue(
            bytes(data),
            resp.get("ContentType") or "application/octet-stream",
            resp.get("VersionLabel") or None,
        )

    def _poll(self, session: _Session) -> dict[str, Any]:
        resp = self._aws.call(
            "appconfigdata", "get_latest_configuration", ConfigurationToken=session.token
        )
        session.token = str(resp.get("NextPollConfigurationToken") or session.token)
        session.last_poll = time.monotonic()
        interval = resp.get("NextPollIntervalInSeconds")
        session.next_interval = float(interval) if isinstance(interval, int) else _MIN_POLL_INTERVAL
        return resp

    def deployment_state(self, application_id: str, environment_id: str, number: int) -> str | None:
        """appconfig:GetDeployment state, or None if unavailable (permission is optional)."""
        try:
            resp = self._aws.call(
                "appconfig",
                "get_deployment",
                retries=1,
                ApplicationId=application_id,
                EnvironmentId=environment_id,
                DeploymentNumber=number,
            )
        except AwsError:
            return None
        state = resp.get("State")
        return state if isinstance(state, str) else None
