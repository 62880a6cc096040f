"""Unintended infrastructure changes fail with a readable diff of the reviewed summary.

After an intended change: `make golden` (rewrites tests/golden/summary.json), review, commit.
"""

from __future__ import annotations

import difflib

from scripts import summarize


def test_synthesized_infrastructure_matches_the_reviewed_summary(table_synth):
    current = summarize.render(summarize.summarize(table_synth.outdir / "stacks"))
    golden = summarize.GOLDEN.read_text() if summarize.GOLDEN.exists() else ""
    if current != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(True),
                current.splitlines(True),
                "tests/golden/summary.json",
                "synthesized now",
            )
        )
        raise AssertionError(
            "infrastructure differs from the reviewed summary; if intended, "
            f"run `make golden` and commit.\n{diff}"
        )


def test_summary_reflects_security_properties(table_synth):
    summary = summarize.summarize(table_synth.outdir / "stacks")
    for env, stacks in summary.items():
        cluster = stacks["cluster"]["security"]
        assert cluster["imdsv2_required"] and cluster["root_volumes_encrypted"], env
        assert cluster["instance_public_ip"] is False, env
        for kind, stack in stacks.items():
            assert stack["security"].get("iam_wildcard_actions", 0) == 0, (env, kind)
