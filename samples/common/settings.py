"""Environment variables parsed once; a bad value is one `SettingsError` naming the variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
SECRET_PREFIX = "SECRET_ARN_"
"""Variables the task definition sets, one per secret: `SECRET_ARN_<NAME>` = the secret's ARN."""


class SettingsError(ValueError):
    """A missing or invalid variable; the message names it and never echoes a token."""


def text(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """The stripped value; required when there is no default."""
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise SettingsError(f"{name} is required")
    return default


def number(
    env: Mapping[str, str], name: str, default: float, lo: float, hi: float, integer: bool = False
) -> float:
    """A number within [lo, hi]; `default` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be {'an integer' if integer else 'a number'}, got {raw!r}"
        ) from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo:g} and {hi:g}, got {raw!r}")
    return value


def log_level(env: Mapping[str, str]) -> str:
    """`LOG_LEVEL`, case-insensitive (the service specs say `info`)."""
    level = text(env, "LOG_LEVEL", "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


@dataclass(frozen=True)
class AgentSettings:
    """How to reach the config-agent sidecar and which AppConfig profile to read."""

    url: str
    token: str = field(repr=False)
    application: str
    environment: str
    profile: str
    timeout_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AgentSettings:
        url = text(env, "CONFIG_AGENT_URL", "http://127.0.0.1:2772").rstrip("/")
        parts = urlsplit(url)
        # The token must never leave the task: only the sidecar on loopback may receive it.
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.path:
            raise SettingsError(f"CONFIG_AGENT_URL must be http://127.0.0.1:<port>, got {url!r}")
        token = text(env, "CONFIG_AGENT_TOKEN")
        if any(c.isspace() or not c.isprintable() for c in token):
            raise SettingsError(
                "CONFIG_AGENT_TOKEN must not contain whitespace or control characters"
            )
        return cls(
            url=url,
            token=token,
            application=text(env, "APPCONFIG_APPLICATION_ID"),
            environment=text(env, "APPCONFIG_ENVIRONMENT_ID"),
            profile=text(env, "APPCONFIG_PROFILE_ID"),
        )


def secret_ids(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(short name, ARN) for every `SECRET_ARN_<NAME>`, sorted; the name is lower-cased."""
    found = []
    for key in sorted(k for k in env if k.startswith(SECRET_PREFIX)):
        value = env[key].strip()
        if not _SECRET_ID.match(value):
            raise SettingsError(f"{key} must be a secret ARN or name")
        found.append((key[len(SECRET_PREFIX) :].lower(), value))
    return tuple(found)
