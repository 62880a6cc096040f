"""Last good values on disk (`CONFIG_AGENT_BACKUP_DIR`), for a restart while AWS is unreachable.

Each item is one JSON file, written atomically with mode 0600 in 0700 directories (output.py),
named by a hash of the configured identifier: `<dir>/configurations/<sha256>.json` and, only
with `CONFIG_AGENT_BACKUP_SECRETS=true`, `<dir>/secrets/<sha256>.json`. At startup the agent
serves what it finds (health `degraded` until a fetch succeeds); a damaged or foreign file is
skipped with one warning, never fatal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .logs import log
from .output import write_atomic
from .settings import ProfileRef
from .sources import ConfigValue, SecretValue, redacted

LOG = logging.getLogger("config_agent.backup")
_FORMAT = 1
T = TypeVar("T")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    return None if text is None else base64.b64decode(str(text), validate=True)


class Backup:
    def __init__(self, root: Path, secrets: bool) -> None:
        self.root = root
        self.secrets = secrets
        if not secrets:
            self._forget_secrets()

    def _path(self, kind: str, ident: str) -> Path:
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()
        return self.root / kind / f"{digest}.json"

    def _forget_secrets(self) -> None:
        """Secret backups left from a run that had them enabled: not kept against the setting."""
        for path in (self.root / "secrets").glob("*.json"):
            try:
                path.unlink()
            except OSError as exc:
                log(
                    LOG,
                    logging.WARNING,
                    "removing an old secret backup failed",
                    error=type(exc).__name__,
                )

    # --- writing (worker thread, after a successful fetch) -----------------------------------
    def save_secret(self, secret_id: str, value: SecretValue) -> None:
        if self.secrets:
            self._write(
                "secrets",
                secret_id,
                {
                    "arn": value.arn,
                    "name": value.name,
                    "version_id": value.version_id,
                    "stages": list(value.stages),
                    "created": value.created,
                    "string": value.string,
                    "binary": _b64(value.binary),
                },
            )

    def save_configuration(self, ref: ProfileRef, value: ConfigValue) -> None:
        self._write(
            "configurations",
            ref.key,
            {
                "body": _b64(value.body),
                "content_type": value.content_type,
                "version_label": value.version_label,
            },
        )

    def _write(self, kind: str, ident: str, doc: dict[str, Any]) -> None:
        try:
            write_atomic(
                self._path(kind, ident),
                json.dumps({"format": _FORMAT, "id": ident, **doc}, separators=(",", ":")).encode(),
            )
        except OSError as exc:  # a full disk must not stop the agent serving
            log(
                LOG,
                logging.WARNING,
                "writing a backup failed",
                kind=kind,
                item=ident,
                error=type(exc).__name__,
            )

    # --- reading (startup) ---------------------------------------------------------------------
    def load_secret(self, secret_id: str) -> SecretValue | None:
        if not self.secrets:
            return None
        return self._read(
            "secrets",
            secret_id,
            lambda doc: redacted(
                SecretValue(
                    arn=str(doc["arn"]),
                    name=str(doc["name"]),
                    version_id=str(doc["version_id"]),
                    stages=tuple(doc["stages"]),
                    created=doc["created"],
                    string=doc["string"],
                    binary=_unb64(doc["binary"]),
                )
            ),
        )

    def load_configuration(self, ref: ProfileRef) -> ConfigValue | None:
        return self._read(
            "configurations",
            ref.key,
            lambda doc: ConfigValue(
                _unb64(doc["body"]) or b"", str(doc["content_type"]), doc["version_label"]
            ),
        )

    def _read(self, kind: str, ident: str, build: Callable[[dict[str, Any]], T]) -> T | None:
        try:
            doc = json.loads(self._path(kind, ident).read_bytes())
            if doc.get("format") != _FORMAT or doc.get("id") != ident:
                raise ValueError("not a backup of this item")
            return build(doc)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
            log(
                LOG,
                logging.WARNING,
                "ignoring an unreadable backup",
                kind=kind,
                item=ident,
                error=type(exc).__name__,
            )
            return None
