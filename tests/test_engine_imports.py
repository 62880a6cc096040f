"""Only engine/ imports cdktf, cdktn or their AWS provider packages (issue 14).

Everything else goes through `engine.core` / `engine.aws.<submodule>`, so switching engines is
one setting and the provider is loaded without its import-everything __init__.py. To fix a
failure, run the codemod that rewrote the tree (see README "Engines") or edit the import.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE_MODULES = r"(?:cdktf|cdktn|cdktf_cdktf_provider_aws|cdktn_provider_aws|cdktn_aws)"
# Statements and code strings alike (e.g. `python -c "import cdktf"`); prose such as
# "imports no cdktf" does not match.
DIRECT = re.compile(
    rf"(?<![\w.])(?:from\s+{ENGINE_MODULES}(?:\.\w+)*\s+import|"
    rf"import\s+{ENGINE_MODULES}(?![\w]))"
)
SKIPPED = {"engine", ".git", "cdktf.out", "node_modules", "__pycache__"}
THIS_FILE = Path(__file__).resolve()


def python_files():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts[:-1]
        if path != THIS_FILE and not any(p in SKIPPED or p.startswith(".venv") for p in parts):
            yield path


def direct_imports(text: str) -> list[str]:
    return [m.group(0) for m in DIRECT.finditer(text)]


def test_the_pattern_catches_statements_and_code_strings_but_not_prose():
    assert direct_imports("from cdktf import App") == ["from cdktf import"]
    assert direct_imports("    from cdktf_cdktf_provider_aws.vpc import (") != []
    assert direct_imports("import cdktn_provider_aws.vpc as vpc") != []
    assert direct_imports('run("import cdktf")') == ["import cdktf"]
    assert direct_imports("from engine.core import App\nimports no cdktf\nimport cdktf_x") == []


def test_no_module_outside_engine_imports_an_engine_directly():
    offenders = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for path in python_files()
        for text in [path.read_text()]
        for m in DIRECT.finditer(text)
    ]
    assert len(list(python_files())) > 20
    assert not offenders, "import through engine/ instead:\n" + "\n".join(offenders)
