"""The reaper's deployment zip: byte-identical for identical sources, and self-contained."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

from modules.lambda_package import ZIP_EPOCH, source_code_hash, write_zip, zip_bytes
from modules.orphan_reaper import package


def test_same_sources_give_the_same_bytes_whatever_the_order():
    a = zip_bytes({"b.py": b"2", "a/x.py": b"1"})
    assert a == zip_bytes({"a/x.py": b"1", "b.py": b"2"})
    assert source_code_hash(a) != source_code_hash(zip_bytes({"b.py": b"3", "a/x.py": b"1"}))
    infos = zipfile.ZipFile(io.BytesIO(a)).infolist()
    assert [i.filename for i in infos] == ["a/x.py", "b.py"]
    assert {(i.date_time, i.external_attr >> 16 & 0o777) for i in infos} == {(ZIP_EPOCH, 0o644)}


def test_the_package_runs_on_its_own(tmp_path):
    """Only reaper/ and the contract are in it, and the handler imports from the zip alone
    (as in the Lambda runtime, without this repository on the path)."""
    data = package()
    assert data == package()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == [
        "config_agent/__init__.py",
        "config_agent/contract.py",
        "reaper/__init__.py",
        "reaper/handler.py",
    ]
    path = write_zip(data, "reaper-test")
    assert path.read_bytes() == data and write_zip(data, "reaper-test") == path
    code = (
        "import sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'site-packages' "
        "in p or 'lib/python' in p]; import reaper.handler as h; "
        "print(h.contract.QUEUE_TAG_TASK_ARN, h.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert out.startswith("ecs-task-arn ") and str(path) in out
