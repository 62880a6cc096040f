"""Synthesis benchmark: prints one JSON line per figure.

- provider_import_s: a bare `import` of the AWS provider (its jsii assembly load) in a fresh
  process; the floor any synth pays.
- full_synth_s / ratio: every stack of every environment in a fresh process, as `make synth`
  does; goal ratio <= 1.5.
- synth_growth: synth time of one environment with 1, 5, 10 and 20 declared services, in one
  process after the import (so the import cost is excluded and only growth is shown).
"""

from __future__ import annotations

import json
import os
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
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def _timed_process(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def import_vs_full_synth() -> None:
    imports, synths = [], []
    for _ in range(RUNS):
        imports.append(_timed_process("import cdktf_cdktf_provider_aws.provider"))
        with tempfile.TemporaryDirectory() as out:
            synths.append(_timed_process(
                "from main import build_app; from settings.environments import select; "
                f"build_app(select(), {out!r}).synth()"))
    imp, full = statistics.median(imports), statistics.median(synths)
    emit(figure="provider_import_s", median=round(imp, 2), runs=[round(x, 2) for x in imports])
    emit(figure="full_synth_s", median=round(full, 2), runs=[round(x, 2) for x in synths],
         envs="dev,staging,prod")
    emit(figure="full_synth_to_import_ratio", value=round(full / imp, 2), goal_max=1.5)


def synth_growth() -> None:
    from main import build_app
    from settings.environments import select
    from settings.services import WEB, WORKER

    dev = select("dev")[0]
    build_app([dev], tempfile.mkdtemp()).synth()  # warm: import + first synth
    points = {}
    for count in (1, 5, 10, 20):
        specs = tuple((WEB if i % 2 == 0 else WORKER).with_(name=f"svc{i}")
                      for i in range(count))
        env = replace(dev, services=specs)
        times = []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                build_app([env], out).synth()
                times.append(time.perf_counter() - start)
        points[count] = round(statistics.median(times), 3)
    emit(figure="synth_growth_s", env="dev", services_to_seconds=points,
         per_added_service_s=round((points[20] - points[1]) / 19, 3))


if __name__ == "__main__":
    import_vs_full_synth()
    synth_growth()
