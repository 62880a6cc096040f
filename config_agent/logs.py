"""Single-line JSON logs on stderr, with a redaction guard for secret values.

Code in this package never formats values into log lines, but exception texts from libraries
are not under our control, so every record passes through `Redactor` before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

# Shorter values would turn ordinary words in logs into "***" without protecting anything.
_MIN_REDACT_LEN = 4


class Redactor:
    """Holds the secret values currently known to the agent and masks them in text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if len(v) >= _MIN_REDACT_LEN}
        if new - self._values:
            with self._lock:
                self._values = self._values | new

    def redact(self, text: str) -> str:
        # Longest first so a value containing another value is masked whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, "***")
        return text


REDACTOR = Redactor()


def secret_fragments(secret_string: str) -> list[str]:
    """The whole value plus the leaf strings of a JSON key/value secret (e.g. a password)."""
    out = [secret_string]
    try:
        doc = json.loads(secret_string)
    except ValueError:
        return out
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            out.append(str(item))
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and the record's `fields` extra."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            # Type only: the message of an arbitrary exception might quote a value.
            doc["exception"] = type(record.exc_info[1]).__name__
        return REDACTOR.redact(json.dumps(doc, default=str, separators=(",", ":")))


def setup(level: str = "INFO", stream: Any = None) -> None:
    """Route the root logger to stderr as JSON; keep library chatter at WARNING."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("config_agent").setLevel(level)


def log(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log `msg` with structured fields (identifiers and codes only, never values)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})
