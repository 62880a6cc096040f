"""One JSON object per line on stderr: `ts`, `level`, `logger`, `msg` plus the call's fields.

Callers pass identifiers, counts and error types only; no code here formats a secret value or
an exception message (which might quote one) into a line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[1] is not None:
            doc["exception"] = type(record.exc_info[1]).__name__
        return json.dumps(doc, default=str, separators=(",", ":"))


def setup(level: str = "INFO") -> None:
    """Route every logger (botocore's too) through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)  # credential lookups at INFO


def log(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """One structured line."""
    logger.log(level, msg, extra={"fields": fields})
