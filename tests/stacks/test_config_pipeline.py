"""Config pipeline stack: AppConfig, secrets, trail, per-service rules -> topics, and isolation."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from devtools import events as samples
from settings.schema import DeploymentStrategy
from tests.event_pattern import matches
from tests.tables import SAMPLE as ENVIRONMENTS

ENVS = {e.name: e for e in ENVIRONMENTS}
TOPIC_SUFFIX = "-config-events"


def _stack(synth, env):
    return synth.stack(f"config-{env}")


def _by_name(stack, rtype, name):
    found = [(k, v) for k, v in stack.resources(rtype).items() if v["name"] == name]
    assert len(found) == 1, f"{stack.name}: expected one {rtype} named {name!r}, got {found}"
    return found[0]


def _topic(stack, env, service):
    return _by_name(stack, "aws_sns_topic", f"{env}-{service}{TOPIC_SUFFIX}")


def _dlq(stack, env, service):
    return _by_name(stack, "aws_sqs_queue", f"{env}-{service}{TOPIC_SUFFIX}-dlq")


def _rule(stack, env, service, purpose):
    return _by_name(stack, "aws_cloudwatch_event_rule", f"{env}-{service}-{purpose}")


def _pattern(rule, fakes=None):
    """The rule's event pattern, with Terraform references replaced by fake resolved ids."""
    text = rule["event_pattern"]
    for ref, value in (fakes or {}).items():
        text = text.replace(ref, value)
    assert "${" not in text, f"unresolved reference left in {text}"
    return json.loads(text)


def _other(env):
    return next(e for e in ENVIRONMENTS if e.name != env)


# --- what every env must have ------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_every_env_has_the_pipeline_resources(synth, env):
    settings = ENVS[env]
    counts = _stack(synth, env).counts()
    services = len(settings.services)
    profiles = sum(1 for s in settings.services if s.config_profile is not None)
    for rtype in (
        "aws_appconfig_application",
        "aws_appconfig_environment",
        "aws_appconfig_deployment_strategy",
        "aws_kms_key",
        "aws_kms_alias",
        "aws_cloudtrail",
    ):
        assert counts.get(rtype) == 1, rtype
    assert counts["aws_appconfig_configuration_profile"] == profiles
    assert counts["aws_appconfig_hosted_configuration_version"] == profiles
    assert counts["aws_appconfig_deployment"] == profiles
    assert counts["aws_secretsmanager_secret"] == sum(len(s.secrets) + 1 for s in settings.services)
    # Per service: a topic with its policy and a DLQ with its policies and alarm; agents
    # create their own queues.
    assert counts["aws_sns_topic"] == counts["aws_sns_topic_policy"] == services >= 2
    # Plus the orphan-queue reaper: its DLQ (+ alarm), STOPPED-event and sweep rules.
    assert counts["aws_sqs_queue"] - 1 == counts["aws_sqs_queue_redrive_allow_policy"] == services
    assert counts["aws_sqs_queue_policy"] == counts["aws_cloudwatch_metric_alarm"] - 1 == services
    assert "aws_sns_topic_subscription" not in counts
    assert counts["aws_cloudwatch_event_rule"] - 2 == services + profiles >= 2
    assert counts["aws_cloudwatch_event_target"] - 2 == services + profiles >= 2
    assert counts["aws_lambda_function"] == 1


# --- AppConfig ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_deployment_strategy_follows_the_env_table(synth, env):
    p = ENVS[env].pipeline
    _, strategy = _stack(synth, env).one("aws_appconfig_deployment_strategy")
    assert strategy["final_bake_time_in_minutes"] == p.bake_minutes
    assert strategy["replicate_to"] == "NONE"
    assert strategy["growth_type"] == "LINEAR"
    if p.deployment_strategy is DeploymentStrategy.ALL_AT_ONCE:
        assert (strategy["deployment_duration_in_minutes"], strategy["growth_factor"]) == (0, 100)
    else:
        assert strategy["deployment_duration_in_minutes"] == p.deployment_minutes > 0
        assert strategy["growth_factor"] < 100


@pytest.mark.parametrize("env", ENVS)
def test_each_profile_is_hosted_json_validated_and_deployed_once(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    app_id, _ = stack.one("aws_appconfig_application")
    envr_id, envr = stack.one("aws_appconfig_environment")
    strategy_id, _ = stack.one("aws_appconfig_deployment_strategy")
    key_id, _ = stack.one("aws_kms_key")
    assert envr["name"] == env
    assert envr["application_id"] == stack.ref("aws_appconfig_application", app_id, "id")
    versions = stack.resources("aws_appconfig_hosted_configuration_version")
    deployments = stack.resources("aws_appconfig_deployment")
    for spec in settings.services:
        if spec.config_profile is None:
            continue
        pid, profile = _by_name(
            stack, "aws_appconfig_configuration_profile", f"{spec.name}-{spec.config_profile.name}"
        )
        assert (profile["location_uri"], profile["type"]) == ("hosted", "AWS.Freeform")
        assert profile["kms_key_identifier"] == stack.ref("aws_kms_key", key_id, "arn")
        (validator,) = profile["validator"]
        assert validator["type"] == "JSON_SCHEMA"
        assert json.loads(validator["content"]) == spec.config_profile.json_schema
        profile_ref = stack.ref(
            "aws_appconfig_configuration_profile", pid, "configuration_profile_id"
        )
        ((vid, version),) = [
            (k, v) for k, v in versions.items() if v["configuration_profile_id"] == profile_ref
        ]
        assert version["content"] == spec.config_profile.initial_content_json
        assert version["content_type"] == "application/json"
        ((_, deployment),) = [
            (k, v) for k, v in deployments.items() if v["configuration_profile_id"] == profile_ref
        ]
        assert deployment["configuration_version"] == stack.ref(
            "aws_appconfig_hosted_configuration_version", vid, "version_number"
        )
        assert deployment["deployment_strategy_id"] == stack.ref(
            "aws_appconfig_deployment_strategy", strategy_id, "id"
        )
        assert deployment["environment_id"] == stack.ref(
            "aws_appconfig_environment", envr_id, "environment_id"
        )


@pytest.mark.parametrize("env", ENVS)
def test_initial_deployments_run_one_at_a_time(synth, env):
    deployments = _stack(synth, env).resources("aws_appconfig_deployment")
    roots = [k for k, v in deployments.items() if "depends_on" not in v]
    assert len(roots) == 1, "exactly one deployment starts first"
    waits = {k: v.get("depends_on", []) for k, v in deployments.items()}
    waited_on = [d.split(".")[1] for deps in waits.values() for d in deps]
    # A chain: every deployment but the first waits on exactly one other, none shared.
    assert all(len(deps) <= 1 for deps in waits.values())
    assert len(waited_on) == len(set(waited_on)) == len(deployments) - 1
    assert set(waited_on) <= set(deployments)


def test_rollback_alarms_become_environment_monitors_with_a_scoped_role():
    from engine.core import TerraformStack, Testing
    from modules.appconfig import AppConfigApp, AppConfigAppProps

    alarm = "arn:aws:cloudwatch:us-west-2:111111111111:alarm:dev-web-5xx"
    stack = TerraformStack(Testing.app(), "appconfig-monitors")
    AppConfigApp(
        stack,
        "App",
        AppConfigAppProps(
            application_name="dev-platform-config",
            environment_name="dev",
            strategy_name="s",
            strategy=DeploymentStrategy.ALL_AT_ONCE,
            monitor_alarm_arns=(alarm,),
        ),
    )
    doc = json.loads(Testing.synth(stack))
    resources = doc["resource"]
    ((role_id, role),) = resources["aws_iam_role"].items()
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "appconfig.amazonaws.com"}
    ((_, policy),) = resources["aws_iam_role_policy"].items()
    assert json.loads(policy["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": [alarm]}
    ]
    ((_, envr),) = resources["aws_appconfig_environment"].items()
    assert envr["monitor"] == [
        {"alarm_arn": alarm, "alarm_role_arn": f"${{aws_iam_role.{role_id}.arn}}"}
    ]


# --- secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_secrets_are_named_by_path_and_encrypted_with_the_env_key(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    key_id, _ = stack.one("aws_kms_key")
    secrets = stack.resources("aws_secretsmanager_secret")
    expected = sorted(
        f"/{env}/{s.name}/{n}"
        for s in settings.services
        for n in (*s.secrets, "config-agent-token")
    )
    assert sorted(v["name"] for v in secrets.values()) == expected
    for secret in secrets.values():
        assert secret["kms_key_id"] == stack.ref("aws_kms_key", key_id, "arn")
        assert secret["recovery_window_in_days"] == settings.pipeline.secret_recovery_days


def test_no_secret_value_is_synthesized_anywhere(synth):
    for name in synth.stack_names:
        stack = synth.stack(name)
        assert stack.resources("aws_secretsmanager_secret_version") == {}, name
        text = json.dumps(stack.doc)
        assert "secret_string" not in text and "secret_binary" not in text, name
        assert "random_password" not in text, name


# --- event rules: targets and exact matching ----------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_each_rule_targets_its_own_service_topic_with_the_event_unchanged(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    targets = stack.resources("aws_cloudwatch_event_target").values()
    for spec in settings.services:
        topic_id, _ = _topic(stack, env, spec.name)
        dlq_id, _ = _dlq(stack, env, spec.name)
        purposes = ["secret-changes"] + (["config-deployments"] if spec.config_profile else [])
        for purpose in purposes:
            rule_id, _ = _rule(stack, env, spec.name, purpose)
            (target,) = [
                t
                for t in targets
                if t["rule"] == stack.ref("aws_cloudwatch_event_rule", rule_id, "name")
            ]
            assert target["arn"] == stack.ref("aws_sns_topic", topic_id, "arn")
            assert not {"input", "input_path", "input_transformer", "role_arn"} & set(target)
            assert target["retry_policy"] == {
                "maximum_event_age_in_seconds": 3600,
                "maximum_retry_attempts": 185,
            }
            # Undeliverable events land in the same service's DLQ, not dropped.
            assert target["dead_letter_config"] == {
                "arn": stack.ref("aws_sqs_queue", dlq_id, "arn")
            }


def _secret_events(settings, service):
    """Every way a change to one of `service`'s secrets in `settings`' env reaches EventBridge."""
    region, account = settings.region, settings.account_id
    name = f"/{settings.name}/{service}/db-password"
    arn = samples.secret_arn(region, account, name)
    events = [
        samples.secret_api_call(op, secret_id, region=region, account=account)
        for op in ("PutSecretValue", "UpdateSecret", "RotateSecret")
        for secret_id in (name, arn)
    ]
    events.append(samples.secret_rotation_succeeded(arn, region=region, account=account))
    return events


@pytest.mark.parametrize("env", ENVS)
def test_secret_rules_match_this_env_and_service_only(synth, env):
    settings = ENVS[env]
    other_env = _other(env)
    stack = _stack(synth, env)
    names = [s.name for s in settings.services]
    for spec in settings.services:
        pattern = _pattern(_rule(stack, env, spec.name, "secret-changes")[1])
        for event in _secret_events(settings, spec.name):
            assert matches(pattern, event), event
        # Another service of this env, a same-prefix service name, and the same service in
        # another env (names in this account; names/ARNs of the other env's account).
        for other in [n for n in names if n != spec.name] + [f"{spec.name}-admin"]:
            for event in _secret_events(settings, other):
                assert not matches(pattern, event), event
        for event in _secret_events(other_env, spec.name):
            assert not matches(pattern, event), event
        region, account = settings.region, settings.account_id
        leaked = [
            samples.secret_api_call(
                "PutSecretValue", f"/{other_env.name}/{spec.name}/x", region=region, account=account
            ),
            samples.secret_api_call(
                "PutSecretValue",
                f"{env}/{spec.name}/x",  # no leading /
                region=region,
                account=account,
            ),
            samples.secret_api_call(
                "GetSecretValue",
                f"/{env}/{spec.name}/x",  # a read
                region=region,
                account=account,
            ),
        ]
        for event in leaked:
            assert not matches(pattern, event), event


@pytest.mark.parametrize("env", ENVS)
def test_deployment_rules_match_this_env_application_and_profile_only(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    app_id, _ = stack.one("aws_appconfig_application")
    envr_id, _ = stack.one("aws_appconfig_environment")
    fakes = {
        stack.ref("aws_appconfig_application", app_id, "id"): "app1234",
        stack.ref("aws_appconfig_environment", envr_id, "environment_id"): "env1234",
    }
    profiles = {}
    for i, spec in enumerate(s for s in settings.services if s.config_profile):
        pid, _ = _by_name(
            stack, "aws_appconfig_configuration_profile", f"{spec.name}-{spec.config_profile.name}"
        )
        profiles[spec.name] = f"prof{i:03d}"
        fakes[stack.ref("aws_appconfig_configuration_profile", pid, "configuration_profile_id")] = (
            profiles[spec.name]
        )
    assert len(profiles) >= 2
    kw = {"region": settings.region, "account": settings.account_id}
    for service, profile in profiles.items():
        pattern = _pattern(_rule(stack, env, service, "config-deployments")[1], fakes)
        assert matches(
            pattern, samples.appconfig_start_deployment("app1234", "env1234", profile, **kw)
        )
        for other_service, other_profile in profiles.items():
            if other_service != service:
                assert not matches(
                    pattern,
                    samples.appconfig_start_deployment("app1234", "env1234", other_profile, **kw),
                )
        for wrong in (
            samples.appconfig_start_deployment("app9999", "env1234", profile, **kw),
            samples.appconfig_start_deployment("app1234", "env9999", profile, **kw),
            samples.appconfig_start_deployment(
                "app1234",
                "env1234",
                profile,
                region=settings.region,
                account=_other(env).account_id,
            ),
        ):
            assert not matches(pattern, wrong)
        # A secret event never wakes a deployment rule, nor the reverse.
        for event in _secret_events(settings, service):
            assert not matches(pattern, event)
        secret_pattern = _pattern(_rule(stack, env, service, "secret-changes")[1])
        assert not matches(
            secret_pattern, samples.appconfig_start_deployment("app1234", "env1234", profile, **kw)
        )


# --- topics and DLQs ----------------------------------------------------------------------


def _service_rule_arns(stack, env, service):
    return sorted(
        stack.ref("aws_cloudwatch_event_rule", k, "arn")
        for k, v in stack.resources("aws_cloudwatch_event_rule").items()
        if v["name"] in (f"{env}-{service}-secret-changes", f"{env}-{service}-config-deployments")
    )


def _assert_eventbridge_only(doc, action, resource, own_rules, all_rules, deny_action):
    """Allow: only EventBridge, only `action` on `resource`, only from `own_rules`; deny non-TLS."""
    (allow,) = [
        s
        for s in doc["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] != {"Service": "sns.amazonaws.com"}
    ]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == [action]
    assert allow["Resource"] == [resource]
    assert list(allow["Condition"]) == ["ArnEquals"]
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(sources) == own_rules
    assert not (set(sources) & (all_rules - set(own_rules))), "another service's rule"
    (deny,) = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == {"AWS": "*"} and deny["Action"] == [deny_action]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _all_rule_arns(stack):
    return {
        stack.ref("aws_cloudwatch_event_rule", k, "arn")
        for k in stack.resources("aws_cloudwatch_event_rule")
    }


@pytest.mark.parametrize("env", ENVS)
def test_topic_policy_admits_only_eventbridge_for_the_service_rules(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    policies = stack.resources("aws_sns_topic_policy").values()
    for spec in settings.services:
        topic_id, _ = _topic(stack, env, spec.name)
        topic_arn = stack.ref("aws_sns_topic", topic_id, "arn")
        (policy,) = [p for p in policies if p["arn"] == topic_arn]
        own = _service_rule_arns(stack, env, spec.name)
        assert len(own) == 1 + (spec.config_profile is not None)
        _assert_eventbridge_only(
            json.loads(policy["policy"]),
            "sns:Publish",
            topic_arn,
            own,
            _all_rule_arns(stack),
            deny_action="sns:Publish",
        )


@pytest.mark.parametrize("env", ENVS)
def test_topics_and_dlqs_are_encrypted_and_the_dlq_admits_agent_queues(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    key_arn = stack.ref("aws_kms_key", stack.one("aws_kms_key")[0], "arn")
    allows = stack.resources("aws_sqs_queue_redrive_allow_policy").values()
    for spec in settings.services:
        _, topic = _topic(stack, env, spec.name)
        dlq_id, dlq = _dlq(stack, env, spec.name)
        assert topic["kms_master_key_id"] == dlq["kms_master_key_id"] == key_arn
        assert not topic.get("fifo_topic")
        assert dlq["message_retention_seconds"] == 14 * 24 * 3600
        assert "redrive_policy" not in dlq
        (allow,) = [
            a for a in allows if a["queue_url"] == stack.ref("aws_sqs_queue", dlq_id, "url")
        ]
        # Agent queues are named after task ids, unknown here: any queue of the account.
        assert json.loads(allow["redrive_allow_policy"]) == {"redrivePermission": "allowAll"}


@pytest.mark.parametrize("env", ENVS)
def test_dlq_policy_admits_only_eventbridge_for_the_service_rules(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    policies = stack.resources("aws_sqs_queue_policy").values()
    for spec in settings.services:
        dlq_id, _ = _dlq(stack, env, spec.name)
        dlq_arn = stack.ref("aws_sqs_queue", dlq_id, "arn")
        (policy,) = [
            p for p in policies if p["queue_url"] == stack.ref("aws_sqs_queue", dlq_id, "url")
        ]
        doc = json.loads(policy["policy"])
        _assert_eventbridge_only(
            doc,
            "sqs:SendMessage",
            dlq_arn,
            _service_rule_arns(stack, env, spec.name),
            _all_rule_arns(stack),
            deny_action="sqs:*",
        )
        (deny,) = [st for st in doc["Statement"] if st["Effect"] == "Deny"]
        assert deny["Resource"] == [dlq_arn]
        # Issue 27 item 6: the agents' subscriptions redrive undeliverable messages here, so
        # SNS may send, on behalf of this service's topic only.
        topic_id, _ = _topic(stack, env, spec.name)
        (sns,) = [
            st for st in doc["Statement"] if st.get("Principal") == {"Service": "sns.amazonaws.com"}
        ]
        assert (sns["Action"], sns["Resource"]) == (["sqs:SendMessage"], [dlq_arn])
        assert sns["Condition"] == {
            "ArnEquals": {"aws:SourceArn": stack.ref("aws_sns_topic", topic_id, "arn")}
        }


def _dlq_alarm(stack, env, service):
    found = [
        (k, v)
        for k, v in stack.resources("aws_cloudwatch_metric_alarm").items()
        if v["alarm_name"] == f"{env}-{service}{TOPIC_SUFFIX}-dlq-not-empty"
    ]
    assert len(found) == 1, f"{stack.name}: expected one DLQ alarm for {service}, got {found}"
    return found[0][1]


@pytest.mark.parametrize("env", ENVS)
def test_each_dlq_alarms_on_its_first_message(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    for spec in settings.services:
        dlq_id, _ = _dlq(stack, env, spec.name)
        alarm = _dlq_alarm(stack, env, spec.name)
        assert alarm["dimensions"] == {"QueueName": stack.ref("aws_sqs_queue", dlq_id, "name")}
        assert {
            k: alarm[k]
            for k in (
                "namespace",
                "metric_name",
                "statistic",
                "period",
                "evaluation_periods",
                "threshold",
                "comparison_operator",
                "treat_missing_data",
            )
        } == {
            "namespace": "AWS/SQS",
            "metric_name": "ApproximateNumberOfMessagesVisible",
            "statistic": "Maximum",
            "period": 300,
            "evaluation_periods": 1,
            "threshold": 0,
            "comparison_operator": "GreaterThanThreshold",
            "treat_missing_data": "notBreaching",
        }
        assert alarm.get("actions_enabled", True) is True
        # No env in the table names an alarm topic: the alarms change state, notify no one.
        assert settings.pipeline.alarm_topic_arn is None
        assert "alarm_actions" not in alarm and "ok_actions" not in alarm


def test_dlq_alarms_notify_the_env_alarm_topic_when_set(tmp_path):
    from main import build_app
    from settings.environments import select
    from settings.validation import validate
    from tests.synth_helpers import SynthOutput
    from tests.tables import SAMPLE

    dev = select("dev", SAMPLE)[0]
    topic = f"arn:aws:sns:{dev.region}:{dev.account_id}:dev-platform-alarms"
    dev = validate(replace(dev, pipeline=replace(dev.pipeline, alarm_topic_arn=topic)))
    build_app([dev], str(tmp_path)).synth()
    stack = SynthOutput(tmp_path).stack("config-dev")
    alarms = stack.resources("aws_cloudwatch_metric_alarm").values()
    assert len(alarms) == len(dev.services) + 1  # + the orphan reaper's DLQ
    for spec in dev.services:
        alarm = _dlq_alarm(stack, "dev", spec.name)
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic]
    (reaper,) = [a for a in alarms if a["alarm_name"] == "dev-platform-orphan-reaper-dlq-not-empty"]
    assert reaper["alarm_actions"] == reaper["ok_actions"] == [topic]


@pytest.mark.parametrize("env", ENVS)
def test_no_shared_config_queue_remains(synth, env):
    stack = _stack(synth, env)
    names = {v["name"] for v in stack.resources("aws_sqs_queue").values()}
    assert names == {f"{env}-{s.name}{TOPIC_SUFFIX}-dlq" for s in ENVS[env].services} | {
        f"{env}-platform-orphan-reaper-dlq"
    }


# --- trail -------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_trail_validates_encrypts_and_follows_the_region_setting(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    key_id, _ = stack.one("aws_kms_key")
    bucket_id, _ = stack.one("aws_s3_bucket")
    _, trail = stack.one("aws_cloudtrail")
    assert trail["enable_log_file_validation"] is True
    assert trail["include_global_service_events"] is True
    assert trail["is_multi_region_trail"] is settings.pipeline.trail_multi_region
    assert trail["kms_key_id"] == stack.ref("aws_kms_key", key_id, "arn")
    assert trail["s3_bucket_name"] == stack.ref("aws_s3_bucket", bucket_id, "bucket")
    _, block = stack.one("aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    _, sse = stack.one("aws_s3_bucket_server_side_encryption_configuration")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": stack.ref("aws_kms_key", key_id, "arn"),
    }


@pytest.mark.parametrize("env", ENVS)
def test_trail_bucket_policy_grants_cloudtrail_only_for_this_trail(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    _, trail = stack.one("aws_cloudtrail")
    _, bucket = stack.one("aws_s3_bucket")
    _, policy = stack.one("aws_s3_bucket_policy")
    trail_arn = f"arn:aws:cloudtrail:{settings.region}:{settings.account_id}:trail/{trail['name']}"
    bucket_arn = f"arn:aws:s3:::{bucket['bucket']}"
    statements = json.loads(policy["policy"])["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"]) for s in allows} == {
        json.dumps({"Service": "cloudtrail.amazonaws.com"})
    }
    by_action = {tuple(s["Action"]): s for s in allows}
    assert set(by_action) == {("s3:GetBucketAcl",), ("s3:PutObject",)}
    assert by_action[("s3:GetBucketAcl",)]["Resource"] == [bucket_arn]
    put = by_action[("s3:PutObject",)]
    assert put["Resource"] == [f"{bucket_arn}/AWSLogs/{settings.account_id}/*"]
    assert put["Condition"]["StringEquals"] == {
        "s3:x-amz-acl": "bucket-owner-full-control",
        "aws:SourceArn": trail_arn,
    }
    assert by_action[("s3:GetBucketAcl",)]["Condition"]["StringEquals"] == {
        "aws:SourceArn": trail_arn
    }
    assert all(
        s["Principal"] == "*" and s["Condition"]["Bool"] == {"aws:SecureTransport": "false"}
        for s in statements
        if s["Effect"] == "Deny"
    )


# --- KMS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_key_rotates_and_its_policy_allows_exactly_the_principals_that_need_it(synth, env):
    settings = ENVS[env]
    stack = _stack(synth, env)
    key_id, key = stack.one("aws_kms_key")
    _, alias = stack.one("aws_kms_alias")
    _, trail = stack.one("aws_cloudtrail")
    assert key["enable_key_rotation"] is True
    assert alias == {
        **alias,
        "name": f"alias/{env}-platform-config",
        "target_key_id": stack.ref("aws_kms_key", key_id, "key_id"),
    }
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    root = f"arn:aws:iam::{settings.account_id}:root"
    assert all(
        s["Effect"] == "Allow" and s["Principal"] != "*" and s["Principal"].get("AWS") != "*"
        for s in statements.values()
    )
    assert statements["AccountAdministersKeyViaIam"]["Principal"] == {"AWS": root}
    assert "kms:PutKeyPolicy" not in statements["AccountAdministersKeyViaIam"]["Action"]
    assert "kms:Put*" in statements["AccountAdministersKeyViaIam"]["Action"], "no lock-out"
    assert not any(a.endswith(":*") for s in statements.values() for a in s["Action"])
    events = statements["EventBridgeEncryptsMessages"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert events["Condition"] == {"StringEquals": {"aws:SourceAccount": settings.account_id}}
    # SNS encrypts what it delivers into the agents' SSE-KMS queues.
    sns = statements["SnsEncryptsQueueMessages"]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sorted(sns["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert sns["Condition"] == {"StringEquals": {"aws:SourceAccount": settings.account_id}}
    trail_arn = f"arn:aws:cloudtrail:{settings.region}:{settings.account_id}:trail/{trail['name']}"
    for sid in ("CloudTrailEncryptsLogs", "CloudTrailDescribesKey"):
        assert statements[sid]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statements[sid]["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert statements["CloudTrailEncryptsLogs"]["Action"] == ["kms:GenerateDataKey*"]
    via = statements["AccountUsesKeyViaServices"]
    assert via["Principal"] == {"AWS": root}
    assert "kms:Encrypt" not in via["Action"]
    assert (
        f"secretsmanager.{settings.region}.amazonaws.com"
        in via["Condition"]["StringEquals"]["kms:ViaService"]
    )
    assert via["Condition"]["StringEquals"]["kms:CallerAccount"] == settings.account_id
    assert set(statements) == {
        "AccountAdministersKeyViaIam",
        "EventBridgeEncryptsMessages",
        "SnsEncryptsQueueMessages",
        "CloudTrailEncryptsLogs",
        "CloudTrailDescribesKey",
        "AccountUsesKeyViaServices",
        "CloudWatchLogsReaperLog",
    }


# --- outputs / contract ------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_outputs_expose_ids_by_reference(synth, env):
    stack = _stack(synth, env)
    outputs = stack.doc["output"]
    key_id, _ = stack.one("aws_kms_key")
    assert outputs["kms_key_arn"]["value"] == stack.ref("aws_kms_key", key_id, "arn")
    for spec in ENVS[env].services:
        topic_id, _ = _topic(stack, env, spec.name)
        dlq_id, _ = _dlq(stack, env, spec.name)
        prefix = spec.name.replace("-", "_")
        assert outputs[f"{prefix}_topic_arn"]["value"] == stack.ref(
            "aws_sns_topic", topic_id, "arn"
        )
        assert outputs[f"{prefix}_dlq_arn"]["value"] == stack.ref("aws_sqs_queue", dlq_id, "arn")
        assert f"{prefix}_queue_url" not in outputs
    assert all(re.fullmatch(r"\$\{[^}]+\}", o["value"]) for o in outputs.values())


def test_service_config_contract_is_built_from_references(tmp_path):
    """What the services stack consumes: one entry per service, every value a token."""
    from engine.core import App, Token
    from settings.environments import select
    from stacks.config_pipeline import ConfigPipelineStack
    from tests.tables import SAMPLE

    dev = select("dev", SAMPLE)[0]
    stack = ConfigPipelineStack(App(outdir=str(tmp_path)), dev)
    assert set(stack.service_config) == {s.name for s in dev.services}
    for spec in dev.services:
        res = stack.service_config[spec.name]
        assert (res.service, res.account_id, res.region) == (spec.name, dev.account_id, dev.region)
        assert list(res.secret_arns) == list(spec.secrets)
        assert res.queues.queue_name_prefix == f"dev-{spec.name}_cfg_"
        assert res.queues.max_receive_count == dev.pipeline.dlq_max_receive_count
        values = [
            res.queues.topic_arn,
            res.queues.dlq_arn,
            res.key_arn,
            res.token_secret_arn,
            *res.secret_arns.values(),
        ]
        if spec.config_profile is not None:
            values += [
                res.profile.application_id,
                res.profile.environment_id,
                res.profile.profile_id,
            ]
        else:
            assert res.profile is None
        assert all(Token.is_unresolved(v) for v in values), res
    web, worker = stack.service_config["web"], stack.service_config["worker"]
    assert web.queues.topic_arn != worker.queues.topic_arn
    assert web.queues.dlq_arn != worker.queues.dlq_arn
    assert web.profile.profile_id != worker.profile.profile_id
    assert web.key_arn == worker.key_arn
