"""ServiceConfig: the one place that says what a service's tasks are told and allowed by its
config resources. Pure Python, no synth needed."""

from __future__ import annotations

from dataclasses import replace

from config_agent import contract
from tests.modules.refs import SERVICE_CONFIG as CONFIG


def _by_sid(statements: list[dict]) -> dict[str, dict]:
    return {s["Sid"]: s for s in statements}


def test_the_agent_is_told_its_fan_out_secrets_and_profile_by_contract_names():
    env = CONFIG.agent_environment()
    assert env == {
        contract.TOPIC_ARN: "arn:topic",
        contract.QUEUE_PREFIX: "dev-web-cfg-",
        contract.DLQ_ARN: "arn:dlq",
        contract.MAX_RECEIVE_COUNT: "3",
        contract.QUEUE_KMS_KEY: "arn:key",
        contract.SECRET_IDS: "arn:api,arn:db",
        contract.APPCONFIG_APPLICATION: "app1",
        contract.APPCONFIG_ENVIRONMENT: "env1",
        contract.APPCONFIG_PROFILE: "prof1",
        contract.SAFETY_REFRESH_SECONDS: "900",
    }
    assert contract.QUEUE_URL not in env, "fan-out mode: the agent creates its own queue"


def test_the_app_is_told_identifiers_only():
    assert CONFIG.app_environment() == {
        "SECRET_ARN_DB_PASSWORD": "arn:db",
        "SECRET_ARN_API_KEY": "arn:api",
        "APPCONFIG_APPLICATION_ID": "app1",
        "APPCONFIG_ENVIRONMENT_ID": "env1",
        "APPCONFIG_PROFILE_ID": "prof1",
    }


def test_agent_queue_grants_are_scoped_to_the_prefix_and_topic():
    grants = _by_sid(CONFIG.agent_queue_statements())
    own = "arn:aws:sqs:us-west-2:111111111111:dev-web-cfg-*"
    assert grants["OwnAgentQueues"]["Resource"] == [own]
    assert grants["SubscribeAgentQueues"]["Condition"] == {
        "StringEquals": {"sns:Protocol": "sqs"},
        "StringLike": {"sns:Endpoint": own},
    }
    assert grants["ListOwnTopic"]["Resource"] == ["arn:topic"]
    # Removing queues and subscriptions is the reaper's job (issue 27): no task may.
    actions = {a for g in grants.values() for a in g["Action"]}
    assert not actions & {"sqs:DeleteQueue", "sns:Unsubscribe", "ecs:DescribeTasks"}


def test_read_grants_follow_what_the_service_declares():
    full = _by_sid(CONFIG.read_statements())
    assert full["ReadOwnSecrets"]["Resource"] == ["arn:db", "arn:api"]
    application = "arn:aws:appconfig:us-west-2:111111111111:application/app1/environment/env1"
    assert full["ReadOwnConfigProfile"]["Resource"] == [f"{application}/configuration/prof1"]
    assert full["ReadOwnDeployments"]["Resource"] == [f"{application}/deployment/*"]
    for sid in ("DecryptOwnQueue", "DecryptOwnSecrets", "DecryptHostedConfig"):
        assert (full[sid]["Action"], full[sid]["Resource"]) == (["kms:Decrypt"], ["arn:key"])
    assert full["DecryptOwnSecrets"]["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "secretsmanager.us-west-2.amazonaws.com",
            "kms:EncryptionContext:SecretARN": ["arn:api", "arn:db"],
        }
    }
    bare = _by_sid(replace(CONFIG, secret_arns={}, profile=None).read_statements())
    assert list(bare) == ["DecryptOwnQueue"]


def test_the_execution_role_reads_only_the_token_and_decrypts_only_via_secrets_manager():
    token, decrypt = CONFIG.token_statements()
    assert token["Resource"] == ["arn:token"]
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "secretsmanager.us-west-2.amazonaws.com",
            "kms:EncryptionContext:SecretARN": "arn:token",
        }
    }
