"""Optional files for apps that read config from disk: atomic replace, mode 0600."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")


def safe_name(name: str) -> str:
    """A file name for a secret name/profile: '/' and other characters become '_'."""
    cleaned = _UNSAFE.sub("_", name)
    return "_" + cleaned if cleaned in ("", ".", "..") else cleaned


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    Readers see either the old or the new content, never a partial file. mkstemp creates the
    file with mode 0600, so the value is never readable by others, even briefly.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class OutputDir:
    """`<dir>/secrets/<secret name>` and `<dir>/configurations/<profile>`; skips no-op writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._digests: dict[Path, bytes] = {}

    def secret_path(self, name: str) -> Path:
        return self.root / "secrets" / safe_name(name)

    def configuration_path(self, profile: str) -> Path:
        return self.root / "configurations" / safe_name(profile)

    def write(self, path: Path, data: bytes) -> bool:
        digest = hashlib.sha256(data).digest()
        if self._digests.get(path) == digest and path.exists():
            return False
        write_atomic(path, data)
        self._digests[path] = digest
        return True
