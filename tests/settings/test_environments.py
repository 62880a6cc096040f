"""The environment table validates at synth with one clear message naming env and field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from settings.environments import ENVIRONMENTS, select
from settings.naming import (
    config_path,
    log_group_name,
    pascal_case,
    resource_name,
    state_key,
)
from settings.schema import (
    ClusterSettings,
    DeploymentStrategy,
    DeployRole,
    GravitonCapacity,
    HttpsSettings,
    NatMode,
    OffHours,
    SpotCapacity,
    TerraformCloudState,
    WafSettings,
)
from settings.services import (
    AlarmSpec,
    CanaryShift,
    ConfigProfileSpec,
    DeploymentSpec,
    LifecycleHook,
    LinearShift,
    Rollout,
    ScalingSpec,
    TestListener,
)
from settings.validation import SettingsError, validate
from tests.tables import SAMPLE

DEV = next(e for e in SAMPLE if e.name == "dev")
HOOK_ARN = "arn:aws:lambda:us-west-2:111111111111:function:smoke"


def _web(**deployment):
    """dev's services with web deployed as `DeploymentSpec(**deployment)`."""
    return (DEV.services[0].with_(deployment=DeploymentSpec(**deployment)), DEV.services[1])


def _shift(**deployment):
    return _web(strategy=Rollout.BLUE_GREEN, **deployment)


def _two_test_listeners_on(port):
    """web and a load-balanced worker, both blue/green with a test listener on `port`."""
    web, worker = DEV.services
    shift = DeploymentSpec(
        strategy=Rollout.BLUE_GREEN, test_listener=TestListener(port, ("10.0.0.0/8",))
    )
    return (
        web.with_(deployment=shift),
        worker.with_(
            container_port=9000,
            health_check_path="/",
            load_balancer=web.load_balancer,
            deployment=shift,
        ),
    )


def test_table_has_the_three_environments_with_explicit_accounts_and_regions():
    by_name = {e.name: e for e in select(None, SAMPLE)}
    assert list(by_name) == ["dev", "staging", "prod"]
    assert (by_name["dev"].account_id, by_name["dev"].region) == ("111111111111", "us-west-2")
    assert (by_name["prod"].account_id, by_name["prod"].region) == ("222222222222", "us-east-1")
    assert by_name["dev"].network.nat_mode is NatMode.SINGLE
    assert by_name["prod"].network.nat_mode is NatMode.PER_AZ


def test_select_subset_keeps_table_order_and_accepts_comma_string():
    assert [e.name for e in select("prod, dev", SAMPLE)] == ["dev", "prod"]
    assert [e.name for e in select("", SAMPLE)] == ["dev", "staging", "prod"]


def test_unknown_environment_is_named():
    with pytest.raises(SettingsError, match=r"unknown environment\(s\) qa selected"):
        select("dev,qa", SAMPLE)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("dev,,prod", "ECS_ENVS has an empty entry: 'dev,,prod'"),
        ("dev,", "ECS_ENVS has an empty entry"),
        ("dev,prod,dev", "ECS_ENVS names dev more than once"),
    ],
)
def test_selection_with_empty_or_repeated_entries_is_refused(names, message):
    with pytest.raises(SettingsError, match=message):
        select(names, SAMPLE)


def test_an_invalid_env_fails_the_synth_of_any_other():
    """A broken prod must not wait for the prod deploy to be noticed."""
    bad_prod = replace(SAMPLE[2], account_id="2222")
    with pytest.raises(SettingsError, match="environment 'prod': account_id"):
        select("dev", (SAMPLE[0], SAMPLE[1], bad_prod))


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (dict(account_id="12345"), "account_id", "exactly 12 digits"),
        (dict(account_id="11111111111a"), "account_id", "exactly 12 digits"),
        (dict(region="mars-1"), "region", "not an AWS region"),
        # Issue 21: typos that used to reach plan/apply, checked against botocore's models.
        (dict(region="us-west-9"), "region", "'us-west-9' is not an AWS region"),
        (dict(region="eu-wst-1"), "region", "did you mean 'eu-west-1'"),
        (
            dict(state=replace(DEV.state, region="eu-wst-1")),
            "state.region",
            "did you mean 'eu-west-1'",
        ),
        (
            dict(cluster=replace(DEV.cluster, instance_type="t3.mediun")),
            "cluster.instance_type",
            "'t3.mediun' is not an EC2 instance type (did you mean 't3.medium'",
        ),
        (
            dict(cluster=replace(DEV.cluster, spot=SpotCapacity(("m6a.large", "m6i.larg")))),
            "cluster.spot.instance_types",
            "'m6i.larg' is not an EC2 instance type",
        ),
        (dict(availability_zones=()), "availability_zones", "name 2 AZs of us-west-2"),
        (
            dict(availability_zones=("us-west-2a", "us-east-1b")),
            "availability_zones",
            "'us-east-1b' is not an AZ name of us-west-2",
        ),
        (
            dict(availability_zones=("us-west-2a", "us-west-2a")),
            "availability_zones",
            "names an AZ twice",
        ),
        # Capacity: every task is awsvpc; t3 has 3 ENIs and no trunking (2 tasks per instance).
        (
            dict(cluster=replace(DEV.cluster, instance_type="t3.medium")),
            "cluster.instance_type",
            (
                "x86_64 services scale to 12 tasks, 24 during a deployment (200 %), but their "
                "instances at maximum size hold 6 awsvpc tasks (3 x t3.medium (2 each)"
            ),
        ),
        (
            dict(cluster=replace(DEV.cluster, awsvpc_trunking=False)),
            "cluster.instance_type",
            "hold 6 awsvpc tasks (3 x m6a.large (2 each); awsvpc_trunking off)",
        ),
        (
            dict(cluster=replace(DEV.cluster, instance_type="m7i.xlarge")),
            "cluster.instance_type",
            (
                "'m7i.xlarge' has no task-ENI numbers yet: add its network interface limit and ENI "
                "trunking support to TASK_ENIS in settings/aws_catalog.py"
            ),
        ),
        (
            dict(
                cluster=replace(
                    DEV.cluster,
                    spot=SpotCapacity(("m6a.large", "t3a.large"), max_size=1),
                    asg_max=2,
                )
            ),
            "cluster.instance_type",
            "hold 22 awsvpc tasks (2 x m6a.large (10 each), 1 x t3a.large",
        ),
        (
            dict(network=replace(DEV.network, vpc_cidr="10.0.0.0/33")),
            "network.vpc_cidr",
            "not a CIDR",
        ),
        (
            dict(network=replace(DEV.network, vpc_cidr="10.0.0.1/16")),
            "network.vpc_cidr",
            "not a CIDR",
        ),
        (
            dict(network=replace(DEV.network, vpc_cidr="8.8.0.0/16")),
            "network.vpc_cidr",
            "not a private",
        ),
        (dict(network=replace(DEV.network, az_count=4)), "network.az_count", "between 2 and 3"),
        (
            dict(cluster=ClusterSettings(asg_min=3, asg_max=2, asg_desired=2)),
            "cluster.asg_min",
            "min 3 > max 2",
        ),
        (
            dict(cluster=ClusterSettings(asg_min=1, asg_max=3, asg_desired=5)),
            "cluster.asg_desired",
            "desired 5 outside",
        ),
        (
            dict(cluster=ClusterSettings(asg_min=2, asg_max=3, asg_desired=1)),
            "cluster.asg_desired",
            "desired 1 outside",
        ),
        (
            dict(cluster=ClusterSettings(target_capacity_percent=120)),
            "cluster.target_capacity_percent",
            "between 1 and 100",
        ),
        (
            dict(services=(DEV.services[0].with_(desired_count=9),)),
            "services[web].desired_count",
            "outside",
        ),
        (
            dict(services=(DEV.services[1].with_(work_queue=False),)),
            "services[worker].scaling.queue_scaling",
            "work_queue",
        ),
        (dict(services=(DEV.services[0], DEV.services[0])), "services[web]", "declared twice"),
        (
            dict(services=(DEV.services[0],)),
            "services[web].allow_from",
            "'worker' is not a service of this environment (declared: web)",
        ),
        (
            dict(
                services=(DEV.services[0].with_(allow_from=("worker", "wroker")), DEV.services[1])
            ),
            "services[web].allow_from",
            "'wroker' is not a service of this environment",
        ),
        (
            dict(services=(DEV.services[0].with_(allow_from=("web",)), DEV.services[1])),
            "services[web].allow_from",
            "'web' is the service itself",
        ),
        (
            dict(
                services=(DEV.services[0].with_(allow_from=("worker", "worker")), DEV.services[1])
            ),
            "services[web].allow_from",
            "names a caller twice",
        ),
        (
            dict(services=(DEV.services[0], DEV.services[1].with_(allow_from=("web",)))),
            "services[worker].allow_from",
            "needs a container_port",
        ),
        (
            dict(
                pipeline=replace(
                    DEV.pipeline, alarm_topic_arn="arn:aws:sns:us-east-1:111111111111:a"
                )
            ),
            "pipeline.alarm_topic_arn",
            "SNS topic ARN in us-west-2",
        ),
        (
            dict(pipeline=replace(DEV.pipeline, alarm_topic_arn="alarms")),
            "pipeline.alarm_topic_arn",
            "SNS topic ARN",
        ),
        (
            dict(services=(DEV.services[0].with_(image="nginx:1.27"),)),
            "services[web].image",
            "exactly one of image and dockerfile",
        ),
        (
            dict(services=(DEV.services[0].with_(dockerfile=None),)),
            "services[web].image",
            "exactly one of image and dockerfile",
        ),
        (
            dict(services=(DEV.services[0].with_(name="config-agent", allow_from=()),)),
            "services[config-agent].name",
            "the config agent's repository",
        ),
        (
            dict(services=(DEV.services[0].with_(health_check_path=None),)),
            "services[web].health_check_path",
            "needs a health_check_path",
        ),
        (
            dict(services=(DEV.services[0].with_(scaling=ScalingSpec(min_tasks=3, max_tasks=1)),)),
            "services[web].scaling.min_tasks",
            "min 3",
        ),
        (
            dict(
                services=(
                    DEV.services[0].with_(
                        config_profile=ConfigProfileSpec(
                            json_schema={"type": "object", "required": ["greeting"]},
                            initial_content={"hello": 1},
                        )
                    ),
                )
            ),
            "services[web].config_profile.initial_content",
            "'greeting' is a required property",
        ),
        (
            dict(
                services=(
                    DEV.services[0].with_(
                        config_profile=ConfigProfileSpec(json_schema={"type": "objekt"})
                    ),
                )
            ),
            "services[web].config_profile.json_schema",
            "is not a valid JSON schema",
        ),
        (
            dict(services=(DEV.services[0].with_(config_files_path="etc/config"),)),
            "services[web].config_files_path",
            "must be an absolute path",
        ),
        # Rules that constructs used to enforce only mid-synth, with a traceback:
        (
            dict(
                pipeline=replace(
                    DEV.pipeline,
                    deployment_strategy=DeploymentStrategy.LINEAR,
                    deployment_minutes=0,
                )
            ),
            "pipeline.deployment_minutes",
            "a linear strategy needs deployment_minutes >= 1",
        ),
        (
            dict(pipeline=replace(DEV.pipeline, deployment_minutes=5)),
            "pipeline.deployment_minutes",
            "all-at-once strategy has no deployment duration",
        ),
        (
            dict(
                services=(DEV.services[0].with_(secrets=("config-agent-token",)), DEV.services[1])
            ),
            "services[web].secrets",
            "reserved for the config agent's token",
        ),
        (
            dict(services=(DEV.services[0].with_(secrets=("a", "a")), DEV.services[1])),
            "services[web].secrets",
            "names a secret twice",
        ),
        # Rules that were never checked:
        (
            dict(cluster=ClusterSettings(capacity_provider_weight=0)),
            "cluster.capacity_provider_weight",
            "between 1 and 1000",
        ),
        (
            dict(cluster=ClusterSettings(capacity_provider_base=100001)),
            "cluster.capacity_provider_base",
            "between 0 and 100000",
        ),
        # Two profiles deploy one after another; the provider waits 30 min for the previous one.
        (
            dict(
                pipeline=replace(
                    DEV.pipeline,
                    deployment_strategy=DeploymentStrategy.LINEAR,
                    deployment_minutes=20,
                    bake_minutes=10,
                )
            ),
            "pipeline.bake_minutes",
            "rollout + bake = 30 min",
        ),
        (
            dict(deploy_role=DeployRole("arn:aws:iam::999999999999:role/deploy")),
            "deploy_role.role_arn",
            "not in the env's account 111111111111",
        ),
        (
            dict(deploy_role=DeployRole("role/deploy")),
            "deploy_role.role_arn",
            "not an IAM role ARN",
        ),
        (
            dict(deploy_role=DeployRole("arn:aws:iam::111111111111:role/deploy", external_id="x")),
            "deploy_role.external_id",
            "2-1224 characters",
        ),
        (
            dict(
                state=TerraformCloudState(organization="acme"),
                deploy_role=DeployRole("arn:aws:iam::111111111111:role/deploy"),
            ),
            "deploy_role",
            "Terraform Cloud runs use the workspace's credentials",
        ),
        # Capacity and scaling options (issue 13).
        (
            dict(
                cluster=ClusterSettings(spot=SpotCapacity(instance_types=("t3.large", "m7g.large")))
            ),
            "cluster.spot.instance_types",
            "mixes CPU architectures",
        ),
        (
            dict(cluster=ClusterSettings(spot=SpotCapacity(instance_types=("m7g.large",)))),
            "cluster.spot.instance_types",
            "must be x86_64 like cluster.instance_type",
        ),
        (
            dict(cluster=ClusterSettings(spot=SpotCapacity(instance_types=()))),
            "cluster.spot.instance_types",
            "at least one instance type",
        ),
        (
            dict(
                cluster=ClusterSettings(spot=SpotCapacity(instance_types=("t3.large",), weight=0))
            ),
            "cluster.spot.weight",
            "between 1 and 1000",
        ),
        (
            dict(cluster=ClusterSettings(graviton=GravitonCapacity(instance_type="m6i.large"))),
            "cluster.graviton.instance_type",
            "not a Graviton (arm64) type",
        ),
        (
            dict(cluster=ClusterSettings(instance_type="m7g.large", graviton=GravitonCapacity())),
            "cluster.graviton",
            "the on-demand group is arm64 already",
        ),
        (
            dict(services=(DEV.services[0], DEV.services[1].with_(architecture="arm64"))),
            "services[worker].architecture",
            "no arm64 capacity in this env",
        ),
        (
            dict(services=(DEV.services[0], DEV.services[1].with_(architecture="riscv"))),
            "services[worker].architecture",
            "must be x86_64 or arm64",
        ),
        (
            dict(
                services=(
                    DEV.services[0],
                    DEV.services[1].with_(
                        scaling=ScalingSpec(queue_scaling=True, requests_per_target=100)
                    ),
                )
            ),
            "services[worker].scaling.requests_per_target",
            "needs a load_balancer",
        ),
        (
            dict(
                services=(
                    DEV.services[0],
                    DEV.services[1].with_(
                        desired_count=0, scaling=ScalingSpec(min_tasks=0, queue_scaling=True)
                    ),
                )
            ),
            "services[worker].scaling.min_tasks",
            "at least 1 task",
        ),
        (
            dict(
                services=(
                    DEV.services[0],
                    DEV.services[1].with_(
                        scaling=ScalingSpec(queue_scaling=True, backlog_per_task=0)
                    ),
                )
            ),
            "services[worker].scaling.backlog_per_task",
            "between 1 and 100000",
        ),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings, off_hours=OffHours(scale_in_at="0 20 * * *")
                )
            ),
            "services_settings.off_hours.scale_in_at",
            "must be cron(",
        ),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings, off_hours=OffHours(timezone="Europe/Atlantis")
                )
            ),
            "services_settings.off_hours.timezone",
            "not an IANA time zone",
        ),
        # Deployments and releases (issue 12).
        (
            dict(
                services_settings=replace(DEV.services_settings, service_connect=True),
                services=(DEV.services[0], DEV.services[1].with_(service_discovery=True)),
            ),
            "services[worker].service_discovery",
            "a Service Connect server needs a container_port",
        ),
        (
            dict(services_settings=replace(DEV.services_settings, service_connect="yes")),
            "services_settings.service_connect",
            "must be bool",
        ),
        (dict(production=True), "services_settings.https", "a production env serves HTTPS"),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings,
                    https=HttpsSettings("app.example.com", "Z123"),
                    plain_http_waiver="TLS ends at the CDN",
                )
            ),
            "services_settings.plain_http_waiver",
            "the env serves HTTPS; drop the waiver",
        ),
        (
            dict(
                production=True,
                services_settings=replace(DEV.services_settings, plain_http_waiver=" "),
            ),
            "services_settings.plain_http_waiver",
            "give the reason",
        ),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings, https=HttpsSettings("App.Example.com", "Z123")
                )
            ),
            "services_settings.https.domain",
            "not a lowercase domain name",
        ),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings, https=HttpsSettings("*.example.com", "Z123")
                )
            ),
            "services_settings.https.domain",
            "not a lowercase domain name",
        ),
        (
            dict(
                services_settings=replace(
                    DEV.services_settings, https=HttpsSettings("app.example.com", "example.com")
                )
            ),
            "services_settings.https.hosted_zone_id",
            "not a Route 53 hosted zone id",
        ),
        (
            dict(services_settings=replace(DEV.services_settings, waf=WafSettings(rate_limit=50))),
            "services_settings.waf.rate_limit",
            "between 100 and 2000000000",
        ),
        (
            dict(
                services=(DEV.services[1],),
                services_settings=replace(
                    DEV.services_settings, https=HttpsSettings("app.example.com", "Z123")
                ),
            ),
            "services_settings.https",
            "no service has a load_balancer",
        ),
        (
            dict(
                services=(DEV.services[1],),
                services_settings=replace(DEV.services_settings, waf=WafSettings()),
            ),
            "services_settings.waf",
            "no service has a load_balancer",
        ),
        (
            dict(services_settings=replace(DEV.services_settings, exec_audit_retention_days=100)),
            "services_settings.exec_audit_retention_days",
            "not a CloudWatch retention value",
        ),
        (
            dict(services_settings=replace(DEV.services_settings, image_tag="v 1")),
            "services_settings.image_tag",
            "not an image tag",
        ),
        (
            dict(
                services=(
                    DEV.services[0],
                    DEV.services[1].with_(deployment=DeploymentSpec(strategy=Rollout.BLUE_GREEN)),
                )
            ),
            "services[worker].deployment.strategy",
            "BLUE_GREEN shifts traffic between two ALB",
        ),
        (
            dict(services=_web(bake_minutes=5)),
            "services[web].deployment.bake_minutes",
            "only for traffic-shifting strategies",
        ),
        (
            dict(services=_web(test_listener=TestListener(8081, ("10.0.0.0/8",)))),
            "services[web].deployment.test_listener",
            "only for traffic-shifting strategies",
        ),
        (
            dict(services=_web(lifecycle_hooks=(LifecycleHook(HOOK_ARN, ("PRE_SCALE_UP",)),))),
            "services[web].deployment.lifecycle_hooks",
            "only for traffic-shifting strategies",
        ),
        (
            dict(services=_shift(canary=CanaryShift())),
            "services[web].deployment.canary",
            "only with strategy CANARY, not BLUE_GREEN",
        ),
        (
            dict(services=_web(strategy=Rollout.CANARY, linear=LinearShift())),
            "services[web].deployment.linear",
            "only with strategy LINEAR, not CANARY",
        ),
        (
            dict(services=_shift(bake_minutes=1441)),
            "services[web].deployment.bake_minutes",
            "between 0 and 1440",
        ),
        (
            dict(services=_web(strategy=Rollout.CANARY, canary=CanaryShift(percent=0.05))),
            "services[web].deployment.canary.percent",
            "multiple of 0.1 from 0.1 to 100",
        ),
        (
            dict(services=_web(strategy=Rollout.CANARY, canary=CanaryShift(percent=12.34))),
            "services[web].deployment.canary.percent",
            "multiple of 0.1",
        ),
        (
            dict(services=_web(strategy=Rollout.CANARY, canary=CanaryShift(bake_minutes=-1))),
            "services[web].deployment.canary.bake_minutes",
            "between 0 and 1440",
        ),
        (
            dict(services=_web(strategy=Rollout.LINEAR, linear=LinearShift(step_percent=2.0))),
            "services[web].deployment.linear.step_percent",
            "from 3.0 to 100",
        ),
        (
            dict(
                services=_web(strategy=Rollout.LINEAR, linear=LinearShift(step_bake_minutes=2000))
            ),
            "services[web].deployment.linear.step_bake_minutes",
            "between 0 and 1440",
        ),
        (
            dict(services=_shift(test_listener=TestListener(443, ("10.0.0.0/8",)))),
            "services[web].deployment.test_listener.port",
            "443 is a production listener port",
        ),
        (
            dict(services=_shift(test_listener=TestListener(70000, ("10.0.0.0/8",)))),
            "services[web].deployment.test_listener.port",
            "70000 is not a port",
        ),
        (
            dict(services=_shift(test_listener=TestListener(8081, ()))),
            "services[web].deployment.test_listener.allowed_cidrs",
            "name who may reach",
        ),
        (
            dict(services=_shift(test_listener=TestListener(8081, ("10.0.0/8",)))),
            "services[web].deployment.test_listener.allowed_cidrs",
            "not a CIDR",
        ),
        (
            dict(services=_two_test_listeners_on(8081)),
            "services[web].deployment.test_listener.port",
            "8081 is another service's test listener",
        ),
        (
            dict(
                services=_shift(
                    lifecycle_hooks=(LifecycleHook("arn:aws:lambda:smoke", ("PRE_SCALE_UP",)),)
                )
            ),
            "services[web].deployment.lifecycle_hooks[0].function_arn",
            "not a Lambda function ARN",
        ),
        (
            dict(services=_shift(lifecycle_hooks=(LifecycleHook(HOOK_ARN, ("AFTER_LUNCH",)),))),
            "services[web].deployment.lifecycle_hooks[0].stages",
            "are not ECS lifecycle stages",
        ),
        (
            dict(services=_shift(lifecycle_hooks=(LifecycleHook(HOOK_ARN, ()),))),
            "services[web].deployment.lifecycle_hooks[0].stages",
            "name at least one stage",
        ),
        (
            dict(
                services=_shift(
                    lifecycle_hooks=(LifecycleHook(HOOK_ARN, ("PRE_SCALE_UP", "PRE_SCALE_UP")),)
                )
            ),
            "services[web].deployment.lifecycle_hooks[0].stages",
            "names a stage twice",
        ),
        (
            dict(services=_web(strategy="BLUE_GREEN")),
            "services[0].deployment.strategy",
            "must be Rollout",
        ),
        (
            dict(services=(DEV.services[0].with_(alarms=AlarmSpec(missing_tasks_minutes=0)),)),
            "services[web].alarms.missing_tasks_minutes",
            "between 1 and 60",
        ),
        (
            dict(services=(DEV.services[0].with_(alarms=AlarmSpec(max_5xx_percent=0)),)),
            "services[web].alarms.max_5xx_percent",
            "between 0.1 and 100",
        ),
        (
            dict(services=(DEV.services[0].with_(alarms=AlarmSpec(max_p99_latency_seconds=0)),)),
            "services[web].alarms.max_p99_latency_seconds",
            "between 0.001 and 600",
        ),
        (
            dict(services=(DEV.services[0].with_(alarms=AlarmSpec(max_queue_age_seconds=30)),)),
            "services[web].alarms.max_queue_age_seconds",
            "between 60 and 1209600",
        ),
        # Wrong types get the same one-line error instead of a TypeError deep in a construct.
        (dict(cluster=ClusterSettings(asg_min="1")), "cluster.asg_min", "must be int, got '1'"),
        (
            dict(network=replace(DEV.network, vpc_endpoints="yes")),
            "network.vpc_endpoints",
            "must be bool",
        ),
        (dict(services=[DEV.services[0]]), "services", "must be a tuple"),
        (dict(tags={"Team": 7}), "tags['Team']", "must be str, got 7"),
    ],
)
def test_bad_setting_fails_with_env_and_field(change, field, detail):
    bad = replace(DEV, **change)
    with pytest.raises(SettingsError) as err:
        validate(bad)
    message = str(err.value)
    assert message.startswith(f"environment 'dev': {field}: "), message
    assert detail in message


def test_a_production_env_may_serve_plain_http_only_with_a_stated_waiver():
    waived = replace(
        DEV,
        production=True,
        services_settings=replace(
            DEV.services_settings, plain_http_waiver="TLS ends at the CDN in front of the ALB"
        ),
    )
    assert validate(waived) is waived
    # Without an ALB there is nothing to serve HTTPS on.
    assert validate(replace(DEV, production=True, services=(DEV.services[1],)))


def test_every_shipped_environment_is_valid():
    for env in ENVIRONMENTS:
        assert validate(env) is env


def test_terraform_cloud_needs_an_organization():
    with pytest.raises(SettingsError, match=r"state\.organization"):
        validate(replace(DEV, state=TerraformCloudState(organization="")))


def test_main_reports_bad_settings_without_a_traceback(monkeypatch, capsys):
    import main

    monkeypatch.setenv("ECS_ENVS", "nope")
    assert main.main() == 2
    assert "unknown environment(s) nope selected" in capsys.readouterr().err


def test_naming_helpers_follow_the_conventions():
    assert resource_name("dev", "web", "tasks") == "dev-web-tasks"
    assert config_path("prod", "web", "db-password") == "/prod/web/db-password"
    assert log_group_name("dev", "worker") == "/ecs/dev-worker"
    assert state_key("ecs-cdktf/", "dev", "network") == "ecs-cdktf/dev/network.tfstate"
    with pytest.raises(ValueError, match="service 'Web'"):
        resource_name("dev", "Web", "x")


@pytest.mark.parametrize(
    ("name", "construct_id"),
    [
        ("web", "Web"),
        ("config-agent", "ConfigAgent"),
        ("api_key2", "ApiKey2"),
        ("db-password", "DbPassword"),
        ("ecr.api", "EcrApi"),
        ("ecs-telemetry", "EcsTelemetry"),
    ],
)
def test_construct_ids_are_the_pascal_case_of_service_secret_and_endpoint_names(name, construct_id):
    """One helper for every id part: services and repositories use `-`, secrets also `_`,
    VPC endpoint services `.`; an id must never change for a name (it is the address)."""
    assert pascal_case(name) == construct_id


def test_readme_tables_match_the_configured_table():
    """README's environment and deployment tables are rendered from whatever table
    settings/environments.py holds (`make docs` rewrites them)."""
    from pathlib import Path

    from scripts import env_tables

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for block in env_tables.blocks(ENVIRONMENTS).values():
        assert block in readme, "README's environment tables are stale: run `make docs`"


def test_rendered_tables_describe_each_env():
    from scripts import env_tables

    envs, deploys = env_tables.blocks(SAMPLE).values()
    assert (
        "| staging | 333333333333 | us-east-2 | 10.20.0.0/16 | 2 | single | m6a.large 1/1/4 "
        "| m6a.large, m6i.large, m5a.large, m5.large 1\u20134 | base 1 on-demand, then 1:1 "
        "on-demand:Spot | yes | min 1 task, America/New_York | 30 d | linear 4 min + 2 min "
        "bake |"
    ) in envs
    assert (
        "| `prod` | canary 10 % for 10 min, 15 min bake | rolling | app.example.com "
        "(placeholder) | yes | no | Service Connect |"
    ) in deploys
    extra = replace(DEV, services=(*DEV.services, DEV.services[1].with_(name="mailer")))
    _, deploys = env_tables.blocks((extra, SAMPLE[2])).values()
    assert "| env | `web` deployment | `worker` deployment | `mailer` deployment |" in deploys
    assert "| `prod` | canary 10 % for 10 min, 15 min bake | rolling | — |" in deploys


def test_capacity_rule_counts_graviton_and_surge_per_architecture():
    arm = DEV.services[1].with_(
        architecture="arm64", scaling=ScalingSpec(min_tasks=1, max_tasks=6, queue_scaling=True)
    )
    cluster = replace(DEV.cluster, graviton=GravitonCapacity("m7g.large", max_size=1))
    with pytest.raises(
        SettingsError,
        match=r"cluster.graviton.instance_type: arm64 services "
        r"scale to 6 tasks, 12 during a deployment",
    ):
        validate(replace(DEV, cluster=cluster, services=(DEV.services[0], arm)))
    roomy = replace(cluster, graviton=GravitonCapacity("m7g.large", max_size=2))
    assert validate(replace(DEV, cluster=roomy, services=(DEV.services[0], arm)))


def test_deploy_surge_is_the_services_maximum_percent():
    from modules.ecs_service.service import MAX_PERCENT
    from settings.capacity import DEPLOY_SURGE_PERCENT

    assert DEPLOY_SURGE_PERCENT == MAX_PERCENT


def test_two_envs_in_one_account_and_region_may_not_both_manage_trunking():
    twin = replace(DEV, name="qa", network=replace(DEV.network, vpc_cidr="10.11.0.0/16"))
    with pytest.raises(SettingsError) as err:
        select(None, (DEV, twin))
    assert str(err.value) == (
        "environment 'qa': cluster.awsvpc_trunking: environment 'dev' already manages the "
        "account-wide ECS setting awsvpcTrunking in 111111111111/us-west-2 (destroying either "
        "env would turn it off for both): set awsvpc_trunking=False here"
    )
    # The other env leaves the setting to dev (and must fit without trunked ENIs).
    small = replace(twin, cluster=replace(twin.cluster, awsvpc_trunking=False, asg_max=12))
    assert [e.name for e in select(None, (DEV, small))] == ["dev", "qa"]
    # Another region of the same account is another account setting.
    east = replace(twin, region="us-east-2", availability_zones=("us-east-2a", "us-east-2b"))
    assert len(select(None, (DEV, east))) == 2


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("Z0PLACEHOLDER0PROD", True),
        ("app.example.com", True),
        ("shop.example", True),
        ("api.test", True),
        ("ZCHANGEME", True),
        ("Z1D633PJN98FT9", False),
        ("app.acme.io", False),
        ("examples.com", False),
    ],
)
def test_placeholder_rule(value, placeholder):
    from settings.rules import placeholder_problem

    assert (placeholder_problem(value) is not None) is placeholder
