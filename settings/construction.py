"""A TypeError while the environment table is built, as the one line every settings mistake gets.

A misspelled or missing field of a settings dataclass (`ServiceSpec(healthcheck_path=...)`,
`WEB.with_(cpus=...)`) raises TypeError from the dataclass's `__init__` while
`settings/environments.py` (or `settings/services.py`) is imported, before validation can run.
Stdlib only: it must work when the module that failed is one validation itself imports.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import traceback
from pathlib import Path

_INIT_ERROR = re.compile(
    r"(\w+)\.__init__\(\) (got an unexpected keyword argument|missing \d+ "
    r"required (?:positional|keyword-only) arguments?:) (.+)$"
)


def _settings_line(exc: BaseException) -> str:
    """`settings/<file>.py:<line>: ` of the innermost table line that raised, or ''."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.parent.name == "settings" and frame.name == "<module>":
            return f"settings/{path.name}:{frame.lineno}: "
    return ""


def _dataclass_named(exc: BaseException, name: str) -> type | None:
    """The class `name` as the code that called it saw it (any frame of the traceback)."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        candidate = tb.tb_frame.f_globals.get(name)
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            found = candidate
        tb = tb.tb_next
    for module in ("settings.schema", "settings.services"):  # if already imported
        candidate = getattr(sys.modules.get(module), name, None)
        if found is None and isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            found = candidate
    return found


def construction_problem(exc: TypeError) -> str | None:
    """One line naming the file, line, class and field, with the valid field names; None if
    `exc` is not a settings dataclass refusing its arguments."""
    match = _INIT_ERROR.search(str(exc))
    if match is None:
        return None
    cls = _dataclass_named(exc, match.group(1))
    if cls is None:
        return None
    fields = [f.name for f in dataclasses.fields(cls)]
    where = _settings_line(exc)
    if match.group(2).startswith("got"):
        name = match.group(3).strip("'")
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}{cls.__name__} has no field {name!r}{hint}; its fields: {', '.join(fields)}"
    return f"{where}{cls.__name__} needs {match.group(3)} (its fields: {', '.join(fields)})"
