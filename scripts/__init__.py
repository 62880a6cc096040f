"""Command-line tools behind the Makefile targets, run as `python scripts/<name>.py`; a package
so that tests import them as `from scripts import summarize` (no sys.path edits)."""
