"""A true drop-in for apps written against the AWS Secrets Manager Agent and AppConfig Agent."""

from __future__ import annotations

import json
from urllib.parse import quote

from devtools import events as ev
from devtools.wait import wait_for
from tests.config_agent.conftest import TOKEN, get, publish

CONFIG_PATH = "/applications/{}/environments/{}/configurations/{}"


def _agent(aws, make_agent, content=b'{"mode": "dropin"}', profile_type="AWS.Freeform", **extra):
    sec = aws.secret("dropin-value")
    app, env, prof = aws.profile(content, profile_type=profile_type)
    agent = make_agent(
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_APPCONFIG_APPLICATION=app,
        CONFIG_AGENT_APPCONFIG_ENVIRONMENT=env,
        CONFIG_AGENT_APPCONFIG_PROFILE=prof,
        **extra,
    )
    return agent, sec, CONFIG_PATH.format(app, env, prof)


def test_the_secrets_manager_api_is_served_on_its_own_port_too(aws, make_agent):
    agent, sec, config = _agent(aws, make_agent)
    port = agent.secrets_port
    assert port and port != agent.port
    for path in (f"/secretsmanager/get?secretId={sec['Name']}", f"/v1/{sec['Name']}"):
        status, _, body = get(port, path)
        assert status == 200 and json.loads(body)["SecretString"] == "dropin-value"
        assert get(port, path, token=None)[0] == 401  # same rules as the main port
        assert get(agent.port, path)[0] == 200
    assert get(port, "/ping", token=None)[:3:2] == (200, b"healthy")
    assert get(port, config)[0] == 404  # configurations only on the main port
    assert get(agent.port, config)[0] == 200


def test_secrets_port_can_be_turned_off(aws, make_agent):
    agent, _, _ = _agent(aws, make_agent, CONFIG_AGENT_SECRETS_PORT="off")
    assert agent.secrets_port is None and agent.secrets_server is None


def test_token_from_aws_token_file_and_the_vault_header(aws, make_agent, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("sm-agent-style-token\n")
    agent, sec, _ = _agent(aws, make_agent, CONFIG_AGENT_TOKEN="", AWS_TOKEN=f"file://{token_file}")
    path = f"/secretsmanager/get?secretId={sec['Name']}"
    for port in (agent.port, agent.secrets_port):
        assert get(port, path, token="sm-agent-style-token")[0] == 200
        assert (
            get(port, path, token=None, headers={"X-Vault-Token": "sm-agent-style-token"})[0] == 200
        )
        assert get(port, path, token=None, headers={"X-Vault-Token": "wrong"})[0] == 403
        assert get(port, path, token=TOKEN)[0] == 403  # only the configured token counts


def test_configuration_reads_may_skip_the_token_but_secrets_never(aws, make_agent):
    strict, sec, config = _agent(aws, make_agent)
    assert get(strict.port, config, token=None)[0] == 401  # the default: token required
    relaxed, sec, config = _agent(aws, make_agent, CONFIG_AGENT_APPCONFIG_REQUIRE_TOKEN="false")
    status, _, body = get(relaxed.port, config, token=None)
    assert (status, body) == (200, b'{"mode": "dropin"}')
    assert get(relaxed.port, config, token="wrong")[0] == 200  # a token is not even looked at
    path = f"/secretsmanager/get?secretId={sec['Name']}"
    for port in (relaxed.port, relaxed.secrets_port):
        assert get(port, path, token=None)[0] == 401


def _version(port, name, **query):
    path = f"/secretsmanager/get?secretId={quote(name, safe='')}" + "".join(
        f"&{k}={quote(v, safe='')}" for k, v in query.items()
    )
    status, _, body = get(port, path)
    return status, (json.loads(body) if status == 200 else body)


def test_version_stages_and_ids_are_fetched_once_cached_and_refreshed_on_change(aws, make_agent):
    sec = aws.secret("stage-v1")
    v1 = sec["VersionId"]
    v2 = aws.sm.put_secret_value(SecretId=sec["Name"], SecretString="stage-v2")["VersionId"]
    aws.sm.put_secret_value(
        SecretId=sec["Name"], SecretString="stage-pending", VersionStages=["AWSPENDING"]
    )
    aws.sm.put_secret_value(
        SecretId=sec["Name"], SecretString="stage-blue", VersionStages=["blue"]
    )  # a custom label
    agent = make_agent(CONFIG_AGENT_SECRET_IDS=sec["Name"])
    name = sec["Name"]
    fetches = aws.proxy.secret_fetches[name]
    for port in (agent.port, agent.secrets_port):
        status, doc = _version(port, name, versionStage="AWSPREVIOUS")
        assert status == 200 and doc["SecretString"] == "stage-v1"
        assert doc["VersionId"] == v1 and doc["VersionStages"] == ["AWSPREVIOUS"]
        assert _version(port, name, versionStage="AWSPENDING")[1]["SecretString"] == "stage-pending"
        assert _version(port, name, versionStage="blue")[1]["SecretString"] == "stage-blue"
        assert _version(port, name, versionId=v1)[1]["SecretString"] == "stage-v1"
        current = _version(port, name, versionId=v2, versionStage="AWSCURRENT")[1]
        assert current["SecretString"] == "stage-v2"  # the current version: from memory
    # Fetched on first request only (4 selections), then served from memory on both ports.
    assert aws.proxy.secret_fetches[name] - fetches == 4
    assert _version(agent.port, name, versionStage="nope")[0] == 404
    assert _version(agent.port, name, versionId="0" * 36)[0] == 404
    assert _version(agent.port, name, versionId="../x")[0] == 400
    assert _version(agent.port, name, versionStage="a b")[0] == 400
    # A change event refreshes every cached stage/version of that secret, not just AWSCURRENT.
    aws.sm.put_secret_value(SecretId=name, SecretString="stage-v3")  # v2 becomes AWSPREVIOUS
    publish(aws, agent, ev.secret_api_call("PutSecretValue", sec["ARN"]))
    wait_for(
        lambda: _version(agent.port, name)[1]["SecretString"] == "stage-v3",
        what="AWSCURRENT refreshed",
    )
    wait_for(
        lambda: (
            _version(agent.port, name, versionStage="AWSPREVIOUS")[1]["SecretString"] == "stage-v2"
        ),
        what="AWSPREVIOUS refreshed with it",
    )
    wait_for(
        lambda: _version(agent.port, name, versionId=v1)[1]["VersionStages"] == [],
        what="v1 lost its label",
    )


FLAGS = {
    "version": "1",
    "flags": {
        "checkout": {
            "name": "New checkout",
            "attributes": {"limit": {"constraints": {"type": "number"}}},
        },
        "dark-mode": {"name": "Dark mode"},
        "beta": {"name": "Beta"},
    },
    "values": {"checkout": {"enabled": True, "limit": 5}, "dark-mode": {"enabled": False}},
}


def _json_get(port, path):
    status, headers, body = get(port, path)
    return status, headers.get("content-type"), json.loads(body)


def test_feature_flags_answer_only_the_requested_flags(aws, make_agent):
    agent, _, config = _agent(
        aws, make_agent, json.dumps(FLAGS).encode(), "AWS.AppConfig.FeatureFlags"
    )
    every = {
        "checkout": {"enabled": True, "limit": 5},
        "dark-mode": {"enabled": False},
        "beta": {"enabled": False},
    }
    assert _json_get(agent.port, config) == (200, "application/json", every)
    assert _json_get(agent.port, config + "?flag=checkout&flag=beta") == (
        200,
        "application/json",
        {"checkout": every["checkout"], "beta": every["beta"]},
    )
    assert _json_get(agent.port, config + "?flag=dark-mode")[2] == {"dark-mode": every["dark-mode"]}
    # Unknown keys are left out; a key asked twice appears once.
    assert _json_get(agent.port, config + "?flag=nope&flag=beta&flag=beta")[2] == {
        "beta": every["beta"]
    }


def test_flag_filters_need_a_json_object(aws, make_agent):
    agent, _, config = _agent(aws, make_agent, b"plain text")
    status, _, body = get(agent.port, config + "?flag=a")
    assert status == 400 and b"feature-flag" in body
