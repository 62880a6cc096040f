"""Synthesis benchmark: prints one JSON line per figure, for each engine whose venv exists.

Per engine (cdktf, cdktn), each a median over BENCH_RUNS fresh processes, wall seconds and
(cpu_median) CPU seconds of the process and its jsii node process, which a shared machine's
load inflates less:
- full_synth_s: `python main.py`, every environment, as `make synth` (path "fast"); and the
  same with ECS_ENGINE_PLAIN=1 (path "plain": provider package imported whole, ordinary exit),
  the before/after of issue 15 in one run.
- dev_synth_s: the same, ECS_ENVS=dev.
- exit_after_output_s: from main() returning (every stack written) to the process having
  exited, for both paths: the interpreter teardown that the fast path skips.
- provider_import_s: `import engine.aws.provider` alone (jsii assembly load plus one submodule;
  path "plain": the whole provider package, as before issue 15).
- core_import_s: `import engine.core` (cdktf or cdktn) alone: the floor any synth pays.
(The former full_synth_to_import_ratio, goal <= 1.5, is gone: it was meaningful while the
import took 10 s; now that the import is cheap, the absolute figures say more.)
Then the AWS CDK v2 comparison app (bench/awscdk/: the same envs and stacks with aws-cdk-lib's
L2 constructs), when `make awscdk-venv` has made .venv-awscdk (else a "skipped" line):
- full_synth_s, engine "awscdk": `python bench/awscdk/app.py`, path "validation" (aws-cdk-lib's
  default: its built-in CloudFormation template validation) and "no-validation"
  (CDK_VALIDATION=false); then awscdk_ratio: each engine's full synth over AWS CDK's, from the
  medians of this run (below 1: ours is faster).
Then, for the running engine only:
- synth_growth: synth time of one environment with 1, 5, 10 and 20 declared services, in one
  process after the import (so the import cost is excluded and only growth is shown).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MARK = "BENCH_OUTPUT_WRITTEN"

import engine  # noqa: E402  (after sys.path; imports no engine until asked)

# Runs main.py as `python main.py` does, printing a monotonic timestamp once main() has returned
# (every stack written), just before the exit path under test.
MARKED_MAIN = f"""
import runpy, sys, time
import engine.lifecycle as lifecycle
exit_now = lifecycle.exit_now
def marked(status=0):
    sys.stderr.write("\\n{MARK} %r\\n" % time.monotonic()); sys.stderr.flush()
    exit_now(status)
lifecycle.exit_now = marked
runpy.run_path("main.py", run_name="__main__")
"""
AWSCDK_VENV = ROOT / ".venv-awscdk"
AWSCDK_MAIN = 'import runpy; runpy.run_path("bench/awscdk/app.py", run_name="__main__")'
AWSCDK_PATHS = {"validation": "true", "no-validation": "false"}
"""full_synth_s path -> CDK_VALIDATION (aws-cdk-lib's switch for its template validation)."""


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(python: Path, code: str, env: dict[str, str]) -> tuple[float, float, float | None]:
    """Wall and CPU seconds (node's included) of one fresh process, and seconds from the
    output mark to its exit (None without a mark)."""
    with tempfile.TemporaryDirectory() as out:
        inherited = {k: v for k, v in os.environ.items() if k != engine.PLAIN_VARIABLE}
        environ = {**inherited, "CDKTF_OUTDIR": out, "CDK_OUTDIR": out, "ECS_ENVS": "", **env}
        start, cpu = time.monotonic(), _cpu()
        done = subprocess.run(
            [str(python), "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True
        )
        end, cpu = time.monotonic(), _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"bench run failed ({env}):\n{done.stderr[-3000:]}")
    marks = [float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith(MARK)]
    return end - start, cpu, (end - marks[-1] if marks else None)


def _median(
    engine_name: str, figure: str, python: Path, code: str, path: str | None = None, **env: str
) -> float:
    """Emit one figure's median over RUNS fresh processes (and their exit figure), return it."""
    walls, cpus, exits = [], [], []
    if engine_name in engine.ENGINES:
        env = {"ECS_ENGINE": engine_name, **env}
    for _ in range(RUNS):
        wall, cpu, exit_s = _run(python, code, env)
        walls.append(wall)
        cpus.append(cpu)
        if exit_s is not None:
            exits.append(exit_s)
    path = path or ("plain" if env.get(engine.PLAIN_VARIABLE) == "1" else "fast")
    extra = {"envs": env.get("ECS_ENVS") or "all"} if code in (MARKED_MAIN, AWSCDK_MAIN) else {}
    emit(
        figure=figure,
        engine=engine_name,
        path=path,
        median=round(statistics.median(walls), 2),
        runs=[round(x, 2) for x in walls],
        cpu_median=round(statistics.median(cpus), 2),
        **extra,
    )
    if exits:
        emit(
            figure="exit_after_output_s",
            engine=engine_name,
            path=path,
            median=round(statistics.median(exits), 2),
            runs=[round(x, 2) for x in exits],
        )
    return statistics.median(walls)


def per_engine() -> dict[str, float]:
    """Every per-engine figure; returns each engine's full synth median (fast path)."""
    full = {}
    for name, eng in engine.ENGINES.items():
        python = ROOT / eng.venv / "bin" / "python"
        if not python.exists():
            emit(
                figure="skipped", engine=name, reason=f"{eng.venv} missing: make venv ENGINE={name}"
            )
            continue
        plain = {engine.PLAIN_VARIABLE: "1"}
        for path in ({}, plain):
            median = _median(name, "full_synth_s", python, MARKED_MAIN, **path)
            if not path:
                full[name] = median
            _median(name, "provider_import_s", python, "import engine.aws.provider", **path)
        _median(name, "dev_synth_s", python, MARKED_MAIN, ECS_ENVS="dev")
        _median(name, "core_import_s", python, "import engine.core")
    return full


def awscdk(full: dict[str, float]) -> None:
    """The AWS CDK app's full synth, with and without its template validation, and how each
    engine's full synth compares (`full`: their medians from this run)."""
    python = AWSCDK_VENV / "bin" / "python"
    if not python.exists():
        emit(
            figure="skipped",
            engine="awscdk",
            reason=f"{AWSCDK_VENV.name} missing: make awscdk-venv",
        )
        return
    medians = {
        path: _median(
            "awscdk", "full_synth_s", python, AWSCDK_MAIN, path=path, CDK_VALIDATION=value
        )
        for path, value in AWSCDK_PATHS.items()
    }
    for name, ours in full.items():
        emit(
            figure="awscdk_ratio",
            engine=name,
            **{f"vs_{path}": round(ours / theirs, 2) for path, theirs in medians.items()},
        )


def synth_growth() -> None:
    from main import build_app
    from settings.environments import select
    from settings.services import WEB, WORKER

    dev = select("dev")[0]
    build_app([dev], tempfile.mkdtemp()).synth()  # warm: import + first synth
    points = {}
    for count in (1, 5, 10, 20):
        specs = tuple((WEB if i % 2 == 0 else WORKER).with_(name=f"svc{i}") for i in range(count))
        env = replace(dev, services=specs)
        times = []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                build_app([env], out).synth()
                times.append(time.perf_counter() - start)
        points[count] = round(statistics.median(times), 3)
    emit(
        figure="synth_growth_s",
        engine=engine.selected().name,
        env="dev",
        services_to_seconds=points,
        per_added_service_s=round((points[20] - points[1]) / 19, 3),
    )


if __name__ == "__main__":
    awscdk(per_engine())
    synth_growth()
    from engine.lifecycle import exit_now

    exit_now(0)
