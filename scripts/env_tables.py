"""README's environment and deployment tables, rendered from the configured environment table.

Usage: python scripts/env_tables.py [--readme README.md]   (`make docs` runs it)
Prints both tables, or rewrites them in README between their markers; a test checks README
against whatever table settings/environments.py holds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from scripts.synth_out import replace_readme_block  # noqa: E402
from settings.schema import EnvironmentSettings  # noqa: E402
from settings.services import (  # noqa: E402
    DEFAULT_BAKE_MINUTES,
    CanaryShift,
    LinearShift,
    Rollout,
    ServiceSpec,
)

ENVS_START, ENVS_END = "<!-- environments:start -->", "<!-- environments:end -->"
DEPLOYS_START, DEPLOYS_END = "<!-- deployments:start -->", "<!-- deployments:end -->"
ENV_HEADER = (
    "| env | account | region | VPC CIDR | AZs | NAT | on-demand (min/desired/max) "
    "| Spot group (types, min\u2013max) | task placement | VPC endpoints | off hours | logs "
    "| AppConfig rollout |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |\n"


def environment_row(env: EnvironmentSettings) -> str:
    """One env's row of the environment table."""
    c, p = env.cluster, env.pipeline
    spot = (
        f"{', '.join(c.spot.instance_types)} {c.spot.min_size}\u2013{c.spot.max_size}"
        if c.spot
        else "no"
    )
    placement = (
        f"base {c.capacity_provider_base} on-demand, then "
        f"{c.capacity_provider_weight}:{c.spot.weight} on-demand:Spot"
        if c.spot
        else "on-demand"
    )
    off = env.services_settings.off_hours
    off_hours = (
        f"min {off.min_tasks} task{'s' if off.min_tasks != 1 else ''}, {off.timezone}"
        if off
        else "no"
    )
    rollout = (
        "all at once"
        if p.deployment_strategy.value == "all_at_once"
        else f"linear {p.deployment_minutes} min + {p.bake_minutes} min bake"
    )
    return _row(
        (
            env.name,
            env.account_id,
            env.region,
            env.network.vpc_cidr,
            env.network.az_count,
            {"single": "single", "per_az": "per AZ"}[env.network.nat_mode.value],
            f"{c.instance_type} {c.asg_min}/{c.asg_desired}/{c.asg_max}",
            spot,
            placement,
            "yes" if env.network.vpc_endpoints else "no",
            off_hours,
            f"{env.services_settings.log_retention_days} d",
            rollout,
        )
    )


def deployment_cell(spec: ServiceSpec | None) -> str:
    """How one service deploys in one env ("—" where the env does not run it)."""
    if spec is None:
        return "—"
    d = spec.deployment
    bake = d.bake_minutes if d.bake_minutes is not None else DEFAULT_BAKE_MINUTES
    if d.strategy is Rollout.ROLLING:
        return "rolling"
    if d.strategy is Rollout.BLUE_GREEN:
        return f"blue/green, {bake} min bake"
    if d.strategy is Rollout.CANARY:
        canary = d.canary or CanaryShift()
        return f"canary {canary.percent:g} % for {canary.bake_minutes} min, {bake} min bake"
    step = d.linear or LinearShift()
    return f"linear {step.step_percent:g} % every {step.step_bake_minutes} min, {bake} min bake"


def deployment_table(table: tuple[EnvironmentSettings, ...]) -> str:
    """One column per service of any env (in table order), then the env-wide features."""
    names = list(dict.fromkeys(s.name for env in table for s in env.services))
    header = (
        "| env | "
        + "".join(f"`{n}` deployment | " for n in names)
        + "HTTPS | WAF | ECS Exec (audited) | service-to-service |\n"
        + "|---" * (len(names) + 5)
        + "|\n"
    )
    rows = []
    for env in table:
        s = env.services_settings
        declared = {spec.name: spec for spec in env.services}
        https = (
            "no"
            if s.https is None
            else s.https.domain
            + (" (placeholder)" if "PLACEHOLDER" in s.https.hosted_zone_id else "")
        )
        rows.append(
            _row(
                [
                    f"`{env.name}`",
                    *(deployment_cell(declared.get(n)) for n in names),
                    https,
                    "yes" if s.waf else "no",
                    "yes" if s.ecs_exec_enabled else "no",
                    "Service Connect" if s.service_connect else "Cloud Map DNS",
                ]
            )
        )
    return header + "".join(rows)


def blocks(table: tuple[EnvironmentSettings, ...]) -> dict[tuple[str, str], str]:
    """{(start marker, end marker): the README block between them, markers included}."""
    return {
        (ENVS_START, ENVS_END): f"{ENVS_START}\n{ENV_HEADER}"
        + "".join(environment_row(e) for e in table)
        + ENVS_END,
        (DEPLOYS_START, DEPLOYS_END): f"{DEPLOYS_START}\n{deployment_table(table)}" + DEPLOYS_END,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="rewrite both tables in this file")
    args = parser.parse_args()
    from settings.environments import ENVIRONMENTS

    for (start, end), block in blocks(ENVIRONMENTS).items():
        if args.readme:
            print(replace_readme_block(args.readme, start, end, block))
        else:
            print(block)


if __name__ == "__main__":
    main()
