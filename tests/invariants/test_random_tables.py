"""Random valid tables (1-4 envs, 1-6 services of every kind and port, any region of the aws
partition, Spot, Graviton, HTTPS and VPC endpoints on or off) synthesize and meet every
invariant, and checkov finds nothing unjustified in any of them (issue 21: the suite holds for
any user's table, not only the sample's).

Synthesis takes seconds per env and checkov tens of seconds per run, so the examples are few
and derandomized (the same tables on every run: CI cannot flake) and checkov runs once over all
of them; `RANDOM_TABLE_EXAMPLES` raises the count for a longer local run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scripts import checkov_scan
from settings import aws_catalog
from settings.capacity import DEPLOY_SURGE_PERCENT
from settings.schema import (
    ClusterSettings,
    EnvironmentSettings,
    GravitonCapacity,
    HttpsSettings,
    NatMode,
    NetworkSettings,
    S3State,
    ServicesSettings,
    SpotCapacity,
)
from settings.services import (
    ConfigProfileSpec,
    LoadBalancerSpec,
    ScalingSpec,
    ServiceSpec,
)
from settings.validation import validate_table
from tests.invariants import checks
from tests.synth_helpers import SynthOutput

EXAMPLES = int(os.environ.get("RANDOM_TABLE_EXAMPLES", "3"))
REGIONS = sorted(r for r in aws_catalog.regions() if not r.startswith(("cn-", "us-gov-")))
PORTS = (80, 443, 3000, 8080, 9000)
X86_TRUNKED = ("m5.large", "m5a.large", "m6i.large", "m6a.large", "c6i.large", "r6i.large")
KINDS = ("web", "worker", "internal", "batch")


@st.composite
def services(draw: st.DrawFn, arm64: bool) -> tuple[ServiceSpec, ...]:
    count = draw(st.integers(1, 6))
    specs = []
    for i in range(count):
        kind = draw(st.sampled_from(KINDS))
        port = draw(st.sampled_from(PORTS))
        spec = ServiceSpec(
            name=f"{kind}{i}",
            image="public.ecr.aws/nginx/nginx:1.27",
            cpu=256,
            memory=512,
            secrets=tuple(
                draw(st.lists(st.sampled_from(("db", "api-key", "token")), unique=True, max_size=2))
            ),
            config_profile=draw(st.sampled_from((None, ConfigProfileSpec()))),
            scaling=ScalingSpec(min_tasks=1, max_tasks=draw(st.integers(1, 6))),
            architecture="arm64" if arm64 and draw(st.booleans()) else None,
        )
        if kind == "web":
            spec = spec.with_(
                container_port=port, health_check_path="/health", load_balancer=LoadBalancerSpec()
            )
        elif kind == "worker":
            spec = spec.with_(
                work_queue=True,
                scaling=ScalingSpec(
                    min_tasks=1, max_tasks=spec.scaling.max_tasks, queue_scaling=True
                ),
            )
        elif kind == "internal":
            spec = spec.with_(
                container_port=port,
                service_discovery=True,
                database_port=draw(st.sampled_from((None, 5432))),
            )
        specs.append(spec)
    ported = [s.name for s in specs if s.container_port is not None]
    if ported and len(specs) > 1 and draw(st.booleans()):
        target = specs.index(next(s for s in specs if s.name == ported[0]))
        callers = tuple(s.name for s in specs if s.name != ported[0])[:2]
        specs[target] = specs[target].with_(allow_from=callers)
    return tuple(specs)


def _fitting_max(specs: tuple[ServiceSpec, ...], arm64: bool) -> int:
    """Instances (10 trunked task ENIs each) enough for the services of one architecture."""
    tasks = sum(s.scaling.max_tasks for s in specs if (s.architecture == "arm64") == arm64)
    return max(1, -(-tasks * DEPLOY_SURGE_PERCENT // 100 // 10) + 1)


@st.composite
def environments(draw: st.DrawFn, index: int) -> EnvironmentSettings:
    region = draw(st.sampled_from(REGIONS))
    account = f"{index + 1}" * 12
    graviton = draw(st.booleans())
    specs = draw(services(graviton))
    azs = draw(st.integers(2, 3))
    on_demand = draw(st.sampled_from(X86_TRUNKED))
    spot = (
        SpotCapacity(
            instance_types=tuple(
                draw(st.lists(st.sampled_from(X86_TRUNKED), min_size=1, max_size=3, unique=True))
            ),
            max_size=2,
        )
        if draw(st.booleans())
        else None
    )
    fronted = any(s.load_balancer is not None for s in specs)
    https = (
        HttpsSettings(domain=f"app{index}.acme.io", hosted_zone_id="Z1D633PJN98FT9")
        if fronted and draw(st.booleans())
        else None
    )
    return EnvironmentSettings(
        name=f"env{index}",
        account_id=account,
        region=region,
        availability_zones=tuple(f"{region}{letter}" for letter in "abc"[:azs]),
        state=S3State(bucket=f"state-{account}", region=region),
        network=NetworkSettings(
            vpc_cidr=f"10.{index}.0.0/16",
            az_count=azs,
            nat_mode=draw(st.sampled_from(NatMode)),
            vpc_endpoints=draw(st.booleans()),
        ),
        cluster=ClusterSettings(
            instance_type=on_demand,
            asg_min=1,
            asg_desired=1,
            asg_max=_fitting_max(specs, False),
            spot=spot,
            graviton=(
                GravitonCapacity("m7g.large", max_size=_fitting_max(specs, True))
                if graviton
                else None
            ),
        ),
        services_settings=ServicesSettings(https=https, ecs_exec_enabled=draw(st.booleans())),
        services=specs,
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[EnvironmentSettings, ...]:
    return tuple(draw(environments(i)) for i in range(draw(st.integers(1, 4))))


def test_random_valid_tables_meet_every_invariant_and_pass_checkov(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import main

    monkeypatch.delenv("ECS_ENVS", raising=False)
    merged = tmp_path / "all" / "stacks"
    merged.mkdir(parents=True)
    seen: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(table=tables())
    def synthesize(table: tuple[EnvironmentSettings, ...]) -> None:
        validate_table(table)  # generated valid: a refusal here is a bug of either side
        out = tmp_path / f"example{len(seen)}"
        assert main.main(table, outdir=str(out)) == 0
        synth = SynthOutput(out)
        problems = checks.all_problems(synth, table)
        assert problems == [], checks.dumps(problems)
        for stack in (out / "stacks").iterdir():
            shutil.copytree(stack, merged / f"{stack.name}x{len(seen)}")
        seen.append(len(table))

    synthesize()
    assert len(seen) == EXAMPLES
    result = checkov_scan.scan(merged)
    assert result.failed == [], "\n".join(f"{c} {s} {r}" for s, r, c in result.failed)
    assert result.stale == [], f"skips that match no failure: {result.stale}"
    assert all(reason.strip() for *_, reason in result.skipped)


def test_the_generated_tables_cover_every_kind(tmp_path: Path) -> None:
    """The strategy reaches every service kind and port, Spot, Graviton and HTTPS."""
    found: set[str] = set()

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(table=tables())
    def look(table: tuple[EnvironmentSettings, ...]) -> None:
        validate_table(table)
        for env in table:
            found.update(s.name.rstrip("0123456789") for s in env.services)
            found.update(f"port{s.container_port}" for s in env.services)
            found.update(
                k
                for k, on in (
                    ("spot", env.cluster.spot),
                    ("graviton", env.cluster.graviton),
                    ("https", env.services_settings.https),
                    ("endpoints", env.network.vpc_endpoints),
                )
                if on
            )
        found.add(f"envs{len(table)}")

    look()
    assert {
        *KINDS,
        *(f"port{p}" for p in PORTS),
        "spot",
        "graviton",
        "https",
        "endpoints",
        "envs1",
        "envs4",
    } <= found, found
    assert Path(tmp_path).exists()
