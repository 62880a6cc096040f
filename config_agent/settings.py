"""Settings read once from environment variables into a frozen dataclass."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import contract as c
from .contract import PREFIX

_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_APPCONFIG_ID = re.compile(r"^[A-Za-z0-9_.:/ -]{1,2048}$")
_TOPIC_ARN = re.compile(r"^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}$")
_QUEUE_ARN = re.compile(r"^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,80}$")
_KMS_KEY = re.compile(r"^[A-Za-z0-9:/_+=,.@-]{1,2048}$")
# The queue name is <prefix><task id>, within SQS's limit (see contract.QUEUE_PREFIX_MAX).
_QUEUE_PREFIX = re.compile(rf"^[A-Za-z0-9_-]{{1,{c.QUEUE_PREFIX_MAX}}}$")


class SettingsError(ValueError):
    """A missing or invalid CONFIG_AGENT_* variable; the message names the variable."""


@dataclass(frozen=True)
class ProfileRef:
    """One AppConfig configuration: identifiers (ids or names) exactly as configured."""

    application: str
    environment: str
    profile: str

    @property
    def key(self) -> str:
        return f"{self.application}/{self.environment}/{self.profile}"


@dataclass(frozen=True)
class Settings:
    queue_url: str  # "" in fan-out mode: the agent creates its own queue
    token: str = field(repr=False)  # never printed, not even in a repr of the settings
    secret_ids: tuple[str, ...] = ()
    profiles: tuple[ProfileRef, ...] = ()
    port: int = c.PORT
    secrets_port: int | None = c.SECRETS_PORT  # None: off
    appconfig_require_token: bool = True
    output_dir: Path | None = None
    backup_dir: Path | None = None  # last good values, for a restart while AWS is unreachable
    backup_secrets: bool = False  # secrets go to the backup dir only when asked for
    wait_time_seconds: int = 20
    visibility_timeout: int = 30
    max_retries: int = 4
    backoff_base_seconds: float = 0.2
    backoff_max_seconds: float = 1.0  # a longer sleep would hide AWS's recovery that long
    aws_timeout_seconds: float = 5.0
    safety_refresh_seconds: float = 0.0  # 0 = off: pure push
    missing_retry_seconds: float = 30.0
    deployment_recheck_seconds: float = 5.0
    deployment_max_wait_seconds: float = 1800.0
    shutdown_grace_seconds: float = 5.0
    log_level: str = "INFO"
    # Fan-out mode (CONFIG_AGENT_TOPIC_ARN): one queue per agent, subscribed to the topic.
    topic_arn: str = ""
    queue_prefix: str = ""
    dlq_arn: str = ""
    max_receive_count: int = 5
    queue_kms_key: str = ""
    ecs_metadata_uri: str = ""  # ECS_CONTAINER_METADATA_URI_V4 (set by ECS, not by us)
    # Fan-out safety net (issue 27): a lost subscription is repaired, a missed delivery caught.
    subscription_check_seconds: float = 30.0
    catchup_refresh_seconds: float = 60.0  # 0 = off
    # HTTP transport (config_agent/server.py): connections per port, and the time a request
    # has to arrive whole from its first byte (slow senders cannot hold the connection slots).
    http_max_connections: int = 1024
    http_request_timeout_seconds: float = 5.0

    @property
    def fanout(self) -> bool:
        return bool(self.topic_arn)

    @property
    def topic_region(self) -> str | None:
        match = _TOPIC_ARN.match(self.topic_arn)
        return match.group(2) if match else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; raise SettingsError naming the first bad variable."""
        return _parse(os.environ if env is None else env)


def _get(env: Mapping[str, str], name: str) -> str:
    """The stripped value of variable `name` (a full name, as in `contract`)."""
    return env.get(name, "").strip()


def _number(
    env: Mapping[str, str], name: str, default: float, lo: float, hi: float, integer: bool = False
) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo:g} and {hi:g}, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name).lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


_FILE_URL = "file://"


def _token(env: Mapping[str, str]) -> str:
    """From exactly one of CONFIG_AGENT_TOKEN, CONFIG_AGENT_TOKEN_FILE and AWS_TOKEN.

    AWS_TOKEN is read as the Secrets Manager Agent reads it: the token, or `file://<path>`
    (github.com/aws/aws-secretsmanager-agent, aws_secretsmanager_agent/src/utils.rs get_token).
    """
    given = [n for n in (c.TOKEN, c.TOKEN_FILE, c.AWS_TOKEN_VARIABLE) if _get(env, n)]
    if len(given) > 1:
        raise SettingsError(f"set only one of {' and '.join(given)}")
    if not given:
        raise SettingsError(f"{c.TOKEN}, {c.TOKEN_FILE} or {c.AWS_TOKEN_VARIABLE} is required")
    name = given[0]
    value = _get(env, name)
    path = value if name == c.TOKEN_FILE else None
    if name == c.AWS_TOKEN_VARIABLE and value.startswith(_FILE_URL):
        path = value[len(_FILE_URL) :]
    if path is not None:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:  # the path is not secret; the content is never echoed
            raise SettingsError(f"{name} cannot be read: {exc.strerror}") from None
        if not value:
            raise SettingsError(f"{name}: the token file is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise SettingsError(f"{name} must not contain whitespace or control characters")
    return value


def _ports(env: Mapping[str, str]) -> dict[str, object]:
    """The main port and the Secrets Manager Agent's port (`off` disables the second)."""
    # 0 lets the OS pick a free port (tests); the bound port is logged at startup.
    port = int(_number(env, c.PORT_VARIABLE, c.PORT, 0, 65535, integer=True))
    name = PREFIX + "SECRETS_PORT"
    secrets_port: int | None = None
    if _get(env, name).lower() != "off":
        secrets_port = int(_number(env, name, c.SECRETS_PORT, 0, 65535, integer=True))
        if secrets_port and secrets_port == port:
            raise SettingsError(f"{name} must differ from {c.PORT_VARIABLE} (or be off)")
    return {"port": port, "secrets_port": secrets_port}


def _secret_ids(env: Mapping[str, str]) -> tuple[str, ...]:
    ids: list[str] = []
    for item in (part.strip() for part in _get(env, c.SECRET_IDS).split(",")):
        if not item:
            continue
        if not (_ARN.match(item) if item.startswith("arn:") else _SECRET_NAME.match(item)):
            raise SettingsError(f"{c.SECRET_IDS} has an invalid secret name or ARN: {item!r}")
        if item not in ids:
            ids.append(item)
    return tuple(ids)


def _profiles(env: Mapping[str, str]) -> tuple[ProfileRef, ...]:
    app, envname, profiles = (
        _get(env, n)
        for n in (c.APPCONFIG_APPLICATION, c.APPCONFIG_ENVIRONMENT, c.APPCONFIG_PROFILE)
    )
    if not (app or envname or profiles):
        return ()
    if not (app and envname and profiles):
        raise SettingsError(
            f"{c.APPCONFIG_APPLICATION}, {c.APPCONFIG_ENVIRONMENT} and "
            f"{c.APPCONFIG_PROFILE} must be set together"
        )
    refs: list[ProfileRef] = []
    for name, value in ((c.APPCONFIG_APPLICATION, app), (c.APPCONFIG_ENVIRONMENT, envname)):
        if not _APPCONFIG_ID.match(value):
            raise SettingsError(f"{name} is invalid: {value!r}")
    for prof in (p.strip() for p in profiles.split(",")):
        if not prof:
            continue
        if not _APPCONFIG_ID.match(prof) or "/" in prof:
            raise SettingsError(f"{c.APPCONFIG_PROFILE} has an invalid profile: {prof!r}")
        ref = ProfileRef(app, envname, prof)
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def _fanout(env: Mapping[str, str]) -> dict[str, object]:
    """Queue-URL mode (one shared queue) or fan-out mode (own queue on the service's topic)."""
    queue_url, topic = _get(env, c.QUEUE_URL), _get(env, c.TOPIC_ARN)
    fanout_only = (c.QUEUE_PREFIX, c.DLQ_ARN, c.QUEUE_KMS_KEY, c.MAX_RECEIVE_COUNT)
    if queue_url and topic:
        raise SettingsError(f"set only one of {c.TOPIC_ARN} and {c.QUEUE_URL}")
    if not queue_url and not topic:
        raise SettingsError(f"{c.TOPIC_ARN} or {c.QUEUE_URL} is required")
    metadata = env.get("ECS_CONTAINER_METADATA_URI_V4", "").strip()
    if metadata and not metadata.startswith(("http://", "https://")):
        metadata = ""  # not ours to validate strictly; without it the agent runs as "local"
    if queue_url:
        if not queue_url.startswith(("https://", "http://")):
            raise SettingsError(f"{c.QUEUE_URL} must be an http(s) SQS queue URL")
        for name in fanout_only:
            if _get(env, name):
                raise SettingsError(f"{name} is only used with {c.TOPIC_ARN}")
        return {"queue_url": queue_url, "ecs_metadata_uri": metadata}
    topic_match = _TOPIC_ARN.match(topic)
    if not topic_match:
        raise SettingsError(
            f"{c.TOPIC_ARN} must be a standard (non-FIFO) SNS topic ARN, got {topic!r}"
        )
    prefix = _get(env, c.QUEUE_PREFIX)
    if not prefix:
        raise SettingsError(f"{c.QUEUE_PREFIX} is required with {c.TOPIC_ARN}")
    if not _QUEUE_PREFIX.match(prefix):
        raise SettingsError(
            f"{c.QUEUE_PREFIX} must be 1-{c.QUEUE_PREFIX_MAX} characters of A-Z a-z 0-9 _ - "
            f"(the queue name is the prefix plus a {c.ECS_TASK_ID_LENGTH}-character task id), "
            f"got {prefix!r}"
        )
    dlq = _get(env, c.DLQ_ARN)
    if not dlq:
        raise SettingsError(f"{c.DLQ_ARN} is required with {c.TOPIC_ARN}")
    dlq_match = _QUEUE_ARN.match(dlq)
    if not dlq_match:
        raise SettingsError(f"{c.DLQ_ARN} must be an SQS queue ARN, got {dlq!r}")
    if dlq_match.groups() != topic_match.groups():
        # SQS requires the dead-letter queue in the queue's account and region, and the
        # queue is created next to the topic.
        raise SettingsError(
            f"{c.DLQ_ARN} must be in the same partition, region and account as {c.TOPIC_ARN}"
        )
    key = _get(env, c.QUEUE_KMS_KEY)
    if key and not _KMS_KEY.match(key):
        raise SettingsError(f"{c.QUEUE_KMS_KEY} must be a KMS key id, alias or ARN")
    return {
        "queue_url": "",
        "topic_arn": topic,
        "queue_prefix": prefix,
        "dlq_arn": dlq,
        "max_receive_count": int(_number(env, c.MAX_RECEIVE_COUNT, 5, 1, 1000, integer=True)),
        "queue_kms_key": key,
        "ecs_metadata_uri": metadata,
    }


def _backup(env: Mapping[str, str], output_dir: str) -> dict[str, object]:
    name, secrets_name = PREFIX + "BACKUP_DIR", PREFIX + "BACKUP_SECRETS"
    backup = _get(env, name)
    secrets = _flag(env, secrets_name, False)
    if backup and not os.path.isabs(backup):
        raise SettingsError(f"{name} must be an absolute path, got {backup!r}")
    if secrets and not backup:
        raise SettingsError(f"{secrets_name} needs {name}")
    if backup and output_dir and os.path.normpath(backup) == os.path.normpath(output_dir):
        # The app reads the output dir; backups are the agent's own files.
        raise SettingsError(f"{name} must differ from {c.OUTPUT_DIR_VARIABLE}")
    return {"backup_dir": Path(backup) if backup else None, "backup_secrets": secrets}


def _safety_net(env: Mapping[str, str]) -> dict[str, object]:
    """How often the own subscription is checked, and when the catch-up refresh runs.

    The catch-up default is 60 s: SQS attribute changes (the queue policy admitting the topic)
    "can take up to 60 seconds" to propagate (SetQueueAttributes, SQS API Reference), and SNS
    drops deliveries that fail meanwhile unless they can go to the subscription's DLQ.
    """
    return {
        "subscription_check_seconds": _number(env, c.SUBSCRIPTION_CHECK_SECONDS, 30, 0.1, 3600),
        "catchup_refresh_seconds": _number(env, c.CATCHUP_REFRESH_SECONDS, 60, 0, 3600),
    }


def _http_limits(env: Mapping[str, str]) -> dict[str, object]:
    """The HTTP transport's connection cap (per port) and request deadline."""
    return {
        "http_max_connections": int(
            _number(env, PREFIX + "HTTP_MAX_CONNECTIONS", 1024, 1, 65536, integer=True)
        ),
        "http_request_timeout_seconds": _number(
            env, PREFIX + "HTTP_REQUEST_TIMEOUT_SECONDS", 5.0, 0.1, 300
        ),
    }


def _parse(env: Mapping[str, str]) -> Settings:
    queue = {**_fanout(env), **_safety_net(env)}
    token = _token(env)
    secret_ids = _secret_ids(env)
    profiles = _profiles(env)
    if not secret_ids and not profiles:
        raise SettingsError(
            f"nothing to serve: set {c.SECRET_IDS} and/or the {PREFIX}APPCONFIG_* group"
        )
    out = _get(env, c.OUTPUT_DIR_VARIABLE)
    if out and not os.path.isabs(out):
        raise SettingsError(f"{c.OUTPUT_DIR_VARIABLE} must be an absolute path, got {out!r}")
    backup = _backup(env, out)
    level = (_get(env, PREFIX + "LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"{PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    recheck = _number(env, PREFIX + "DEPLOYMENT_RECHECK_SECONDS", 5.0, 0.1, 3600)
    return Settings(
        token=token,
        secret_ids=secret_ids,
        profiles=profiles,
        **_ports(env),  # type: ignore[arg-type]
        appconfig_require_token=_flag(env, PREFIX + "APPCONFIG_REQUIRE_TOKEN", True),
        output_dir=Path(out) if out else None,
        **backup,  # type: ignore[arg-type]
        wait_time_seconds=int(_number(env, PREFIX + "WAIT_TIME_SECONDS", 20, 1, 20, integer=True)),
        visibility_timeout=int(
            _number(env, PREFIX + "VISIBILITY_TIMEOUT", 30, 1, 43200, integer=True)
        ),
        max_retries=int(_number(env, PREFIX + "MAX_RETRIES", 4, 0, 20, integer=True)),
        backoff_base_seconds=_number(env, PREFIX + "BACKOFF_BASE_SECONDS", 0.2, 0.001, 60),
        backoff_max_seconds=_number(env, PREFIX + "BACKOFF_MAX_SECONDS", 1.0, 0.001, 300),
        aws_timeout_seconds=_number(env, PREFIX + "AWS_TIMEOUT_SECONDS", 5.0, 0.1, 60),
        safety_refresh_seconds=_number(env, c.SAFETY_REFRESH_SECONDS, 0, 0, 7 * 86400),
        missing_retry_seconds=_number(env, PREFIX + "MISSING_RETRY_SECONDS", 30, 0.1, 3600),
        deployment_recheck_seconds=recheck,
        deployment_max_wait_seconds=_number(
            env, PREFIX + "DEPLOYMENT_MAX_WAIT_SECONDS", 1800, 0, 86400
        ),
        shutdown_grace_seconds=_number(env, PREFIX + "SHUTDOWN_GRACE_SECONDS", 5, 0, 120),
        log_level=level,
        **queue,  # type: ignore[arg-type]
        **_http_limits(env),  # type: ignore[arg-type]
    )
