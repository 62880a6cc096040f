"""Command-line tools behind the Makefile targets, run as `python scripts/<name>.py`; a package
so that tests import them as `from scripts import summarize` (no sys.path edits)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def interpreter() -> str:
    """This Python as a command to print: relative when it is the repository's own venv."""
    exe = Path(sys.executable)
    return str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else sys.executable
