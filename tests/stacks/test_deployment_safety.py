"""Deployments that hold on real AWS (issue 22), checked on the synthesized JSON of every env
and of generated tables, against models of what the AWS provider and CloudWatch do with it:

1. a capacity provider strategy change plans (the provider demands `force_new_deployment`)
   and redeploys, while an unchanged synth plans nothing;
2. after ECS swapped a traffic-shifting service's target groups, an apply (a release
   included) sends no `load_balancer` back;
3. the 5xx alarm sees a 10 % canary failing 10 % of its requests, and no quiet group;
4. callers of a traffic-shifting service go through Service Connect, or settings refuse;
5. off-hours schedules own the target's bounds, and their minimum is one scaling can reach;
6. an apply waits for the deployment, for longer than its strategy shifts and bakes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, reject, settings
from hypothesis import strategies as st

from settings.schema import EnvironmentSettings, OffHours, SpotCapacity
from settings.services import (
    DEFAULT_BAKE_MINUTES,
    AlarmSpec,
    CanaryShift,
    DeploymentSpec,
    LinearShift,
    Rollout,
    ScalingSpec,
)
from settings.validation import SettingsError, validate
from tests.metric_math import evaluate, fires
from tests.synth_helpers import Stack, SynthOutput
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
PROVIDER_DEFAULT_TIMEOUT_MINUTES = 20
"""aws_ecs_service create/update timeouts unless set (terraform-provider-aws 6.47.1,
internal/service/ecs/service.go, ResourceService `Timeouts`)."""
STRATEGY_ERROR = (
    "force_new_deployment should be true when capacity_provider_strategy is being updated"
)
SLOW = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _synth(envs: list[EnvironmentSettings], outdir: Path) -> SynthOutput:
    from main import build_app

    build_app([validate(e) for e in envs], str(outdir)).synth()
    return SynthOutput(outdir)


def _services(stack: Stack) -> dict[str, dict[str, Any]]:
    """{ECS service name: config}."""
    return {v["name"]: v for v in stack.resources("aws_ecs_service").values()}


def _spec(env: EnvironmentSettings, service_name: str):
    return env.service(service_name.removeprefix(f"{env.name}-"))


# --- models of the provider (terraform-provider-aws 6.47.1, internal/service/ecs/service.go) --


def _strategy(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [
        (s["capacity_provider"], s["base"], s["weight"])
        for s in service["capacity_provider_strategy"]
    ]


def plan_error(state: dict[str, Any], config: dict[str, Any]) -> str | None:
    """`capacityProviderStrategyCustomizeDiff`: updating an existing service's strategy
    without `force_new_deployment` fails the plan."""
    if _strategy(state) != _strategy(config) and not config.get("force_new_deployment"):
        return STRATEGY_ERROR
    return None


def update_service_input(state: dict[str, Any], config: dict[str, Any]) -> set[str]:
    """What `resourceServiceUpdate` sends to UpdateService: nothing unless some argument other
    than tags changed (`d.HasChangesExcept`), then each changed argument (`d.HasChange`) and
    ForceNewDeployment when set. `ignore_changes` arguments plan as their state value, and
    `triggersCustomizeDiff` clears a `triggers` diff unless `force_new_deployment` is set."""
    ignored = set(config.get("lifecycle", {}).get("ignore_changes", []))
    if not config.get("force_new_deployment"):
        ignored.add("triggers")
    keys = (set(state) | set(config)) - ignored - {"lifecycle", "depends_on", "tags"}
    changed = {k for k in keys if state.get(k) != config.get(k)}
    if changed and config.get("force_new_deployment"):
        changed.add("ForceNewDeployment")
    return changed


def swapped(service: dict[str, Any]) -> dict[str, Any]:
    """The service as ECS leaves it after a blue/green deployment: primary and alternate
    target groups exchanged (ECS Developer Guide, "Amazon ECS blue/green deployments")."""
    blocks = []
    for block in service["load_balancer"]:
        advanced = block["advanced_configuration"]
        blocks.append(
            {
                **block,
                "target_group_arn": advanced["alternate_target_group_arn"],
                "advanced_configuration": {
                    **advanced,
                    "alternate_target_group_arn": block["target_group_arn"],
                },
            }
        )
    return {**service, "load_balancer": blocks}


# --- the checks, shared by the shipped envs and generated tables ---------------------------


def check_strategy_change(before: Stack, after: Stack) -> set[str]:
    """Every service plans; the ones whose strategy changed redeploy, with the strategy named
    in `triggers`; the others send nothing. Returns the services that redeploy."""
    old, new = _services(before), _services(after)
    assert old.keys() == new.keys()
    redeployed = set()
    for name, state in old.items():
        config = new[name]
        assert plan_error(state, config) is None, name
        sent = update_service_input(state, config)
        if _strategy(state) != _strategy(config):
            assert {"capacity_provider_strategy", "triggers", "ForceNewDeployment"} <= sent
            redeployed.add(name)
        else:
            assert sent == set(), (name, sent)
    return redeployed


def check_release_path(stack: Stack, env: EnvironmentSettings) -> None:
    """A release after ECS swapped the groups sends the new task definition and no
    `load_balancer`; a rolling service's target group stays Terraform's."""
    for name, service in _services(stack).items():
        ignored = service["lifecycle"]["ignore_changes"]
        assert "task_definition" not in ignored, "releases go through Terraform"
        if not _spec(env, name).deployment.shifts_traffic:
            assert "load_balancer" not in ignored, name
            continue
        release = {**service, "task_definition": "${aws_ecs_task_definition.next.arn}"}
        assert update_service_input(swapped(service), release) == {
            "task_definition",
            "ForceNewDeployment",
        }, name
        assert update_service_input(swapped(service), service) == set(), name


def _group_alarm(stack: Stack, env: str, service: str) -> dict[str, Any]:
    (alarm,) = [
        a
        for a in stack.resources("aws_cloudwatch_metric_alarm").values()
        if a["alarm_name"] == f"{env}-{service}-target-5xx-rate"
    ]
    return alarm


def _traffic(
    groups: int, busy: int, busy_errors: int, quiet: int, quiet_errors: int, busy_group: int
) -> dict[str, float | None]:
    """One minute of ALB counts: `busy_group` gets `busy` requests, every other group
    `quiet`; the ALB publishes no 5xx count while there are none."""
    point: dict[str, float | None] = {}
    for i in range(groups):
        requests, errors = (busy, busy_errors) if i == busy_group else (quiet, quiet_errors)
        point[f"requests{i}"] = float(requests) if requests else None
        point[f"errors{i}"] = float(errors) if errors else None
    return point


def check_canary_alarm(stack: Stack, env: EnvironmentSettings) -> None:
    """For each ALB service: the new revision's group at 10 % of traffic failing 10 % of its
    requests trips the alarm, in whichever group it runs; a group below the request minimum
    failing every request does not."""
    for spec in env.services:
        if spec.load_balancer is None:
            continue
        alarm = _group_alarm(stack, env.name, spec.name)
        n, threshold = spec.alarms.min_requests_per_minute, spec.alarms.max_5xx_percent
        assert threshold < 10, "the sample canary fails 10 % of its requests"
        groups = len([q for q in alarm["metric_query"] if q["id"].startswith("requests")])
        assert groups == (2 if spec.deployment.shifts_traffic else 1)
        canary, total = 10 * n, 100 * n  # 10 % of the traffic, at least n requests
        for group in range(groups):
            sick = _traffic(groups, canary, canary // 10, total - canary, 0, group)
            assert fires(alarm, [sick] * 3), (env.name, spec.name, group)
            quiet = _traffic(groups, n - 1, n - 1, total, 0, group)
            assert not fires(alarm, [quiet] * 3), (env.name, spec.name, group)


def _expected_off_hours_min(env: EnvironmentSettings, scaling: ScalingSpec) -> int:
    off = env.services_settings.off_hours
    assert off is not None
    return min(max(off.min_tasks, 1 if scaling.queue_scaling else 0), scaling.min_tasks)


def lowest_reachable(action: dict[str, str], target_tracking: bool) -> int:
    """The fewest tasks a service gets to under a scheduled action's bounds. Target tracking
    sets capacity to metric / target rounded up, so any load keeps at least one task
    (Application Auto Scaling User Guide, "How target tracking scaling works"); a maximum
    below the current capacity scales in to it (PutScheduledAction `ScalableTargetAction`)."""
    low, high = int(action["min_capacity"]), int(action["max_capacity"])
    return min(high, max(low, 1 if target_tracking else low))


def check_off_hours(stack: Stack, env: EnvironmentSettings) -> None:
    """With off hours: the schedules own min and max (an apply at night keeps them), and the
    off-hours minimum is what the service scales in to."""
    targets = stack.resources("aws_appautoscaling_target")
    actions = {
        a["name"]: a for a in stack.resources("aws_appautoscaling_scheduled_action").values()
    }
    service_ids = {v["name"]: k for k, v in stack.resources("aws_ecs_service").items()}
    for spec in env.services:
        service_ref = f"aws_ecs_service.{service_ids[f'{env.name}-{spec.name}']}.name"
        ((target_id, target),) = [
            (k, v) for k, v in targets.items() if service_ref in v["resource_id"]
        ]
        ignored = target.get("lifecycle", {}).get("ignore_changes", [])
        if env.services_settings.off_hours is None:
            assert ignored == []
            continue
        assert {"min_capacity", "max_capacity"} <= set(ignored), spec.name
        tracking = [
            p
            for p in stack.resources("aws_appautoscaling_policy").values()
            if p["resource_id"] == f"${{aws_appautoscaling_target.{target_id}.resource_id}}"
            and p["policy_type"] == "TargetTrackingScaling"
        ]
        assert tracking, "CPU and memory target tracking on every service"
        night = actions[f"{env.name}-{spec.name}-off-hours"]["scalable_target_action"]
        assert lowest_reachable(night, target_tracking=True) == _expected_off_hours_min(
            env, spec.scaling
        ), spec.name


def shift_and_bake_minutes(d: DeploymentSpec) -> int:
    """The least time ECS spends shifting traffic and baking after the new tasks are up."""
    if not d.shifts_traffic:
        return 0
    minutes = DEFAULT_BAKE_MINUTES if d.bake_minutes is None else d.bake_minutes
    if d.strategy is Rollout.CANARY:
        minutes += (d.canary or CanaryShift()).bake_minutes
    if d.strategy is Rollout.LINEAR:
        linear = d.linear or LinearShift()
        minutes += (math.ceil(100 / linear.step_percent) - 1) * linear.step_bake_minutes
    return minutes


def check_waits_for_deployments(stack: Stack, env: EnvironmentSettings) -> None:
    """Apply follows each deployment to its end (a rollback fails it), for at least the
    provider's default plus the strategy's shift and bake time; Ctrl-C rolls back."""
    for name, service in _services(stack).items():
        assert service["wait_for_steady_state"] is True, name
        assert service["sigint_rollback"] is True, name
        least = PROVIDER_DEFAULT_TIMEOUT_MINUTES + shift_and_bake_minutes(
            _spec(env, name).deployment
        )
        for operation in ("create", "update"):
            value = service["timeouts"][operation]
            assert value.endswith("m") and int(value[:-1]) >= least, (name, operation, value)


def check_internal_callers(stack: Stack, env: EnvironmentSettings) -> None:
    """A traffic-shifting service with callers serves them through Service Connect (which ECS
    shifts), never through Cloud Map DNS records (which it does not)."""
    services = _services(stack)
    for spec in env.services:
        if not (spec.deployment.shifts_traffic and spec.allow_from):
            continue
        callee = services[f"{env.name}-{spec.name}"]
        assert "service_registries" not in callee
        assert callee["service_connect_configuration"]["enabled"] is True
        for caller in spec.allow_from:
            assert (
                services[f"{env.name}-{caller}"]["service_connect_configuration"]["enabled"] is True
            )


CHECKS = (
    check_release_path,
    check_canary_alarm,
    check_off_hours,
    check_waits_for_deployments,
    check_internal_callers,
)


# --- every env of the shipped table ---------------------------------------------------------


def _changed_strategy(env: EnvironmentSettings) -> EnvironmentSettings:
    """The env with one capacity setting changed: Spot added where there is none, else its
    weight raised; the on-demand base raised too."""
    c = env.cluster
    spot = (
        SpotCapacity(instance_types=(c.instance_type,), weight=1)
        if c.spot is None
        else replace(c.spot, weight=c.spot.weight + 1)
    )
    return replace(
        env, cluster=replace(c, spot=spot, capacity_provider_base=c.capacity_provider_base + 1)
    )


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> SynthOutput:
    """Every env with its capacity provider strategy changed, synthesized by main.build_app."""
    return _synth(
        [_changed_strategy(e) for e in ENVIRONMENTS], tmp_path_factory.mktemp("strategy-changed")
    )


@pytest.mark.parametrize("env", ENVS)
def test_a_capacity_strategy_change_plans_and_redeploys_exactly_those_services(synth, changed, env):
    stack = f"services-{env}"
    assert check_strategy_change(synth.stack(stack), changed.stack(stack)) == set(
        _services(synth.stack(stack))
    )


@pytest.fixture(scope="module")
def again(tmp_path_factory) -> SynthOutput:
    """The shipped table once more, synthesized by main.build_app."""
    return _synth(list(ENVIRONMENTS), tmp_path_factory.mktemp("again"))


@pytest.mark.parametrize("env", ENVS)
def test_an_unchanged_table_plans_no_service_update(synth, again, env):
    stack = f"services-{env}"
    assert check_strategy_change(synth.stack(stack), again.stack(stack)) == set()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("env", ENVS)
def test_every_env(synth, env, check):
    check(synth.stack(f"services-{env}"), ENVS[env])


# --- generated tables --------------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> EnvironmentSettings:
    """dev with its capacity, web's strategy, bounds and thresholds, off hours and the
    discovery kind drawn; worker calls web, so a shifting web needs Service Connect."""
    dev = ENVS["dev"]
    web, worker = dev.service("web"), dev.service("worker")
    strategy = draw(st.sampled_from(list(Rollout)))
    shifts = strategy is not Rollout.ROLLING
    deployment = DeploymentSpec(
        strategy=strategy,
        bake_minutes=draw(st.none() | st.integers(0, 30)) if shifts else None,
        canary=(
            CanaryShift(
                percent=draw(st.sampled_from([5.0, 10.0, 25.0])),
                bake_minutes=draw(st.integers(0, 20)),
            )
            if strategy is Rollout.CANARY
            else None
        ),
        linear=(
            LinearShift(
                step_percent=draw(st.sampled_from([10.0, 25.0, 33.3])),
                step_bake_minutes=draw(st.integers(0, 10)),
            )
            if strategy is Rollout.LINEAR
            else None
        ),
    )
    low = draw(st.integers(1, 3))
    spot = draw(
        st.none()
        | st.builds(SpotCapacity, instance_types=st.just(("t3.medium",)), weight=st.integers(1, 3))
    )
    table = replace(
        dev,
        cluster=replace(
            dev.cluster,
            capacity_provider_base=draw(st.integers(0, 2)),
            capacity_provider_weight=draw(st.integers(1, 3)),
            spot=spot,
        ),
        services_settings=replace(
            dev.services_settings,
            off_hours=draw(st.none() | st.builds(OffHours, min_tasks=st.integers(0, 2))),
            service_connect=deployment.shifts_traffic or draw(st.booleans()),
        ),
        services=(
            web.with_(
                deployment=deployment,
                allow_from=("worker",),
                desired_count=low,
                scaling=ScalingSpec(min_tasks=low, max_tasks=draw(st.integers(low, 6))),
                alarms=AlarmSpec(
                    max_5xx_percent=draw(st.sampled_from([1.0, 5.0])),
                    min_requests_per_minute=draw(st.integers(1, 100)),
                ),
            ),
            worker,
        ),
    )
    event(f"web {strategy.value}, off hours {table.services_settings.off_hours is not None}")
    try:
        return validate(table)
    except SettingsError as error:  # a combination some other settings rule refuses
        note(str(error))
        reject()


@SLOW
@given(table=tables())
def test_generated_tables(table, tmp_path_factory):
    before = _synth([table], tmp_path_factory.mktemp("generated"))
    after = _synth([_changed_strategy(table)], tmp_path_factory.mktemp("generated-changed"))
    stack = f"services-{table.name}"
    assert check_strategy_change(before.stack(stack), after.stack(stack)) == set(
        _services(before.stack(stack))
    )
    for check in CHECKS:
        check(before.stack(stack), table)


@settings(max_examples=60, deadline=None)
@given(strategy=st.sampled_from(list(Rollout)), callers=st.booleans(), connect=st.booleans())
def test_settings_refuse_dns_callers_of_a_traffic_shifting_service(strategy, callers, connect):
    dev = ENVS["dev"]
    web = dev.service("web").with_(
        deployment=DeploymentSpec(strategy=strategy), allow_from=("worker",) if callers else ()
    )
    env = replace(
        dev,
        services=(web, dev.service("worker")),
        services_settings=replace(dev.services_settings, service_connect=connect),
    )
    if strategy is not Rollout.ROLLING and callers and not connect:
        with pytest.raises(
            SettingsError,
            match=r"environment 'dev': services\[web\]"
            r"\.allow_from: .* Service Connect",
        ):
            validate(env)
    else:
        assert validate(env) is env


# --- the alarm expression's meaning, on any traffic ------------------------------------------

counts = st.integers(0, 5000)


@settings(max_examples=300, deadline=None)
@given(requests=st.tuples(counts, counts), error_share=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_the_5xx_alarm_is_the_worst_busy_groups_rate(synth, requests, error_share):
    """On any minute of traffic the shifting services' alarm value is the highest 5xx percent
    of a target group with at least the minimum requests, else 0."""
    for env in ENVIRONMENTS:
        for spec in env.services:
            if not spec.deployment.shifts_traffic:
                continue
            alarm = _group_alarm(synth.stack(f"services-{env.name}"), env.name, spec.name)
            errors = [int(r * s) for r, s in zip(requests, error_share, strict=True)]
            point = {}
            for i, (r, e) in enumerate(zip(requests, errors, strict=True)):
                point[f"requests{i}"] = float(r) if r else None
                point[f"errors{i}"] = float(e) if e else None
            busy = [
                100 * e / r
                for r, e in zip(requests, errors, strict=True)
                if r >= spec.alarms.min_requests_per_minute
            ]
            assert evaluate(alarm["metric_query"], point) == pytest.approx(max(busy or [0]))


@pytest.mark.parametrize("guard", [0, -1, 100_001])
def test_settings_refuse_a_request_guard_outside_its_range(guard):
    dev = ENVS["dev"]
    web = dev.service("web").with_(alarms=AlarmSpec(min_requests_per_minute=guard))
    with pytest.raises(
        SettingsError,
        match=r"services\[web\]\.alarms\.min_requests_per_minute: "
        f"{guard} must be between 1 and 100000",
    ):
        validate(replace(dev, services=(web, dev.service("worker"))))
