"""The web sample's settings, parsed once from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from samples.common.settings import (
    AgentSettings,
    SettingsError,
    log_level,
    number,
    secret_ids,
    text,
)
from samples.contract import WEB_PORT

_PREFIX = re.compile(r"^/[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class WebSettings:
    port: int
    route_prefix: str
    """The ALB forwards `/<service>` and `/<service>/*` of a non-default service unchanged."""
    agent: AgentSettings
    secrets: tuple[tuple[str, str], ...]
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebSettings:
        prefix = text(env, "ROUTE_PREFIX", "/web")
        if not _PREFIX.match(prefix):
            raise SettingsError(f"ROUTE_PREFIX must look like /web, got {prefix!r}")
        return cls(
            port=int(number(env, "PORT", WEB_PORT, 0, 65535, integer=True)),
            route_prefix=prefix,
            agent=AgentSettings.from_env(env),
            secrets=secret_ids(env),
            log_level=log_level(env),
        )
