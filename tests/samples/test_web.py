"""The web sample, run as its image runs it, against the config agent on moto."""

from __future__ import annotations

import json
import os

import pytest

from devtools.wait import wait_for
from samples import contract
from samples.web.settings import WebSettings
from settings.services import WEB
from tests.config_agent.conftest import get
from tests.samples.proc import (
    AGENT_STUB_ENV,
    STUB_TOKEN,
    assert_invalid_settings,
    refused_agent_url,
)

PROFILE = b'{"greeting": "hello from the profile", "feature_flags": {}}'


def _listening_port(proc) -> int:
    return int(proc.wait_record("listening")[0]["port"])


def _page(port: int, path: str = "/") -> tuple[int, dict]:
    status, _, body = get(port, path, token=None)
    return status, json.loads(body)


def test_web_defaults_are_the_port_and_path_the_task_definition_declares(web_image):
    """The subprocess tests bind a free port; this holds the image's default to the spec's."""
    assert WEB.container_port == contract.WEB_PORT
    assert web_image.image.env["PORT"] == str(WEB.container_port)
    assert web_image.image.expose == [WEB.container_port]
    env = {
        "CONFIG_AGENT_TOKEN": "t",
        "APPCONFIG_APPLICATION_ID": "a",
        "APPCONFIG_ENVIRONMENT_ID": "e",
        "APPCONFIG_PROFILE_ID": "p",
    }
    assert WebSettings.from_env(env).port == WEB.container_port
    assert WEB.load_balancer is not None
    assert WEB.health_check_path == contract.HEALTH_PATH
    assert ["CMD", *web_image.image.healthcheck] == list(contract.WEB_HEALTH_CHECK_COMMAND)


def test_web_serves_greeting_and_redacted_secret_and_follows_pushed_changes(
    aws, sidecar, web_image
):
    value = "web-secret-" + os.urandom(6).hex()
    secret = aws.secret(value)
    car = sidecar(PROFILE, DB_PASSWORD=secret)
    proc = web_image.spawn(PORT="0", **car.app_env)
    try:
        port = _listening_port(proc)
        assert _page(port, contract.HEALTH_PATH) == (200, {"status": "ok"})
        assert web_image.health_check(PORT=str(port)).returncode == 0
        for path in ("/", "/web", "/web/", "/?x=1"):
            status, body = _page(port, path)
            assert status == 200, path
            assert body["greeting"] == "hello from the profile"
            assert body["secrets"] == {
                "db_password": {
                    "redacted": True,
                    "type": "string",
                    "length": len(value),
                    "version_id": secret["VersionId"],
                }
            }
        assert value not in get(port, "/", token=None)[2].decode()
        assert _page(port, "/web/health") == (200, {"status": "ok"})
        assert _page(port, "/nope") == (404, {"error": "not found"})

        car.deploy(b'{"greeting": "changed through the agent"}')
        wait_for(
            lambda: _page(port)[1].get("greeting") == "changed through the agent",
            what="pushed configuration on the page",
        )
        car.rotate(secret, value + "-rotated")
        wait_for(
            lambda: _page(port)[1]["secrets"]["db_password"]["length"] == len(value) + 8,
            what="rotated secret on the page",
        )
        assert _page(port)[1]["secrets"]["db_password"]["version_id"] != secret["VersionId"]
        assert proc.sigterm() == 0
    finally:
        proc.reap()
    assert proc.records("stopped")
    assert value not in proc.text
    assert [r["status"] for r in proc.records("request")].count(200) >= 4  # one line each
    assert web_image.health_check(PORT=str(port)).returncode != 0  # nothing listens now


def test_web_without_agent_answers_503_and_stays_live(web_image):
    with refused_agent_url() as agent_url:
        proc = web_image.spawn(PORT="0", CONFIG_AGENT_URL=agent_url, **AGENT_STUB_ENV)
        try:
            port = _listening_port(proc)
            assert _page(port) == (503, {"error": "config agent unavailable"})
            assert _page(port, contract.HEALTH_PATH) == (200, {"status": "ok"})
            assert web_image.health_check(PORT=str(port)).returncode == 0
            failure = proc.wait_record("config agent call failed")[0]
            assert failure["reason"] == "ConnectionRefusedError"
            assert proc.sigterm() == 0
        finally:
            proc.reap()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("secret the agent does not serve", "status 404"), ("wrong token", "status 403")],
)
def test_web_answers_503_when_the_agent_refuses(aws, sidecar, web_image, fault, reason):
    car = sidecar(PROFILE, DB_PASSWORD=aws.secret("present-" + os.urandom(4).hex()))
    env = {**car.app_env, "PORT": "0"}
    if fault == "wrong token":
        env["CONFIG_AGENT_TOKEN"] = STUB_TOKEN
    else:  # the agent is healthy (it serves DB_PASSWORD) but does not know this one
        env["SECRET_ARN_API_KEY"] = "arn:aws:secretsmanager:us-west-2:123456789012:secret:x-AbCdEf"
    proc = web_image.spawn(**env)
    try:
        port = _listening_port(proc)
        assert _page(port) == (503, {"error": "config agent unavailable"})
        assert proc.wait_record("config agent call failed")[0]["reason"] == reason
        assert proc.sigterm() == 0
    finally:
        proc.reap()
    assert STUB_TOKEN not in proc.text


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"CONFIG_AGENT_TOKEN": ""}, "CONFIG_AGENT_TOKEN"),
        ({"CONFIG_AGENT_URL": "http://10.0.0.5:2772"}, "CONFIG_AGENT_URL"),
        ({"APPCONFIG_PROFILE_ID": ""}, "APPCONFIG_PROFILE_ID"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"SECRET_ARN_DB_PASSWORD": "has space"}, "SECRET_ARN_DB_PASSWORD"),
    ],
)
def test_web_bad_settings_exit_2_naming_the_variable(web_image, env, variable):
    assert_invalid_settings(web_image.run(**{**AGENT_STUB_ENV, **env}), variable)
