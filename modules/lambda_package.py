"""A deterministic Lambda deployment zip, built in Python at synth time.

No hashicorp/archive provider (only hashicorp/aws exists here) and no build step: the zip is
made from source files with fixed timestamps and permissions, sorted entries and no
compression, so the same sources give the same bytes on every run, machine and engine, and the
synthesized `source_code_hash` only changes when the code does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The earliest timestamp a zip entry can hold."""
FILE_MODE = 0o644


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """{archive path: content} -> zip bytes, identical for identical input."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, rw-r--r--
            info.create_system = 3  # Unix, so the mode above is honoured everywhere
            archive.writestr(info, files[name])
    return buffer.getvalue()


def source_code_hash(data: bytes) -> str:
    """What the aws provider compares: base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def write_zip(data: bytes, name: str) -> Path:
    """The zip in a content-addressed temp file (written once, atomically) that a
    TerraformAsset copies into the stack's output directory."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"ecs-cdktf-lambda-{digest}"
    folder.mkdir(mode=0o755, exist_ok=True)
    path = folder / f"{name}.zip"  # the asset keeps this name: stable across code changes
    if not path.exists() or path.read_bytes() != data:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    return path
