"""The README's architecture diagram is generated from the synthesized JSON and kept current."""

from __future__ import annotations

from pathlib import Path

from scripts import diagram

ROOT = Path(__file__).resolve().parent.parent


def test_readme_diagram_matches_the_synthesized_first_environment(table_synth):
    env = diagram.default_env()
    expected = diagram.readme_block(diagram.mermaid(table_synth.outdir / "stacks", env), env)
    assert expected in (ROOT / "README.md").read_text(), (
        "README diagram is stale: run `make docs` and commit"
    )


def test_diagram_follows_cross_stack_references(synth):
    text = diagram.mermaid(synth.outdir / "stacks", "dev")
    assert "cluster_autoscaling_group --> network_subnet" in text
    assert "cluster_ecs_capacity_provider --> cluster_autoscaling_group" in text
