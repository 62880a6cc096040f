"""engine.lifecycle: a synth process exits right after its output, losing nothing.

Each case runs a small program in a child process and checks what a caller sees: the exit
status, every byte of stdout/stderr, atexit handlers run, and the jsii node process stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.lifecycle import exit_code

ROOT = Path(__file__).resolve().parents[2]


def _run(body: str, **env: str) -> subprocess.CompletedProcess:
    program = f"from engine.lifecycle import run_and_exit\n{body}"
    environ = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env}
    if "ECS_ENGINE_PLAIN" not in env:
        environ.pop("ECS_ENGINE_PLAIN", None)
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )


@pytest.mark.parametrize(("status", "code"), [(None, 0), (0, 0), (3, 3), (True, 1), ("bad", 1)])
def test_exit_code_follows_sys_exit(status, code):
    assert exit_code(status) == code


def test_status_and_all_unflushed_output_survive():
    done = _run(
        "import sys\n"
        "def entry():\n"
        "    sys.stdout.write('o' * 200_000)\n"  # larger than any stdio buffer
        "    sys.stderr.write('partial line, no newline')\n"
        "    return 3\n"
        "run_and_exit(entry)\n"
    )
    assert done.returncode == 3
    assert done.stdout == "o" * 200_000
    assert done.stderr == "partial line, no newline"


def test_an_exception_prints_its_traceback_and_exits_1():
    done = _run("def entry():\n    raise ValueError('broken stack')\nrun_and_exit(entry)\n")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ValueError: broken stack" in done.stderr


def test_an_engine_setup_error_is_one_line_and_exits_2():
    done = _run(
        "from engine import EngineError\n"
        "def entry():\n    raise EngineError('use .venv-cdktn/bin/python')\n"
        "run_and_exit(entry)\n"
    )
    assert (done.returncode, done.stderr) == (2, "use .venv-cdktn/bin/python\n")


def test_sys_exit_with_a_message_prints_it_and_exits_1():
    done = _run("import sys\nrun_and_exit(lambda: sys.exit('invalid settings'))\n")
    assert (done.returncode, done.stderr.strip()) == (1, "invalid settings")


def test_atexit_handlers_run_and_the_jsii_process_is_stopped(tmp_path):
    """The node process has exited and been reaped before ours ends: nothing left orphaned."""
    marker = tmp_path / "atexit-ran"
    done = _run(
        "import atexit, pathlib\n"
        "import engine.core\n"  # starts the jsii node process
        "from jsii._runtime import kernel\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "print(kernel.provider._process._process.pid, flush=True)\n"
        "run_and_exit(lambda: 0)\n"
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "yes"
    pid = int(done.stdout.split()[0])
    assert not Path(f"/proc/{pid}").exists(), "jsii's node process outlived the synth"


def test_plain_mode_exits_the_ordinary_way():
    done = _run(
        "import atexit, os\natexit.register(lambda: print('atexit'))\nrun_and_exit(lambda: 4)\n",
        ECS_ENGINE_PLAIN="1",
    )
    assert (done.returncode, done.stdout) == (4, "atexit\n")
