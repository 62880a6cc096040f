"""The fast synth (provider loaded lazily, prompt exit) writes exactly what the plain one does.

Plain = ECS_ENGINE_PLAIN=1: the provider package imported whole through its __init__.py and the
ordinary interpreter exit. Compared byte for byte, every file of cdktf.out (issue 15).
"""

from __future__ import annotations


def _files(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_fast_path_output_is_byte_identical_to_the_plain_path(synth, plain_synth):
    fast_files, plain_files = _files(synth.outdir), _files(plain_synth.outdir)
    assert sorted(fast_files) == sorted(plain_files)
    assert len(fast_files) > 10
    different = [name for name in fast_files if fast_files[name] != plain_files[name]]
    assert not different, different
