"""CONFIG_AGENT_BACKUP_DIR: an agent restarted while AWS is unreachable serves the last good
values (health degraded) instead of 503; secrets only with CONFIG_AGENT_BACKUP_SECRETS=true."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from config_agent.backup import Backup
from config_agent.settings import ProfileRef, Settings, SettingsError
from config_agent.sources import ConfigValue, SecretValue
from devtools.wait import wait_for
from tests.config_agent.conftest import get, secret_json

CONFIG_PATH = "/applications/{}/environments/{}/configurations/{}"
REF = ProfileRef("app1", "env1", "main")
SECRET = SecretValue(
    arn="arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf",
    name="app/db",
    version_id="v-1",
    stages=("AWSCURRENT",),
    created="1.5",
    string="backup-secret-value",
)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip_modes_and_secrets_only_when_asked(tmp_path):
    root = tmp_path / "backup"
    plain = Backup(root, secrets=False)
    plain.save_secret("app/db", SECRET)
    plain.save_configuration(REF, ConfigValue(b"\x00cfg", "application/json", "v7"))
    assert [p.parent.name for p in _files(root)] == ["configurations"]  # no secret written
    assert plain.load_configuration(REF) == ConfigValue(b"\x00cfg", "application/json", "v7")
    assert plain.load_secret("app/db") is None
    with_secrets = Backup(root, secrets=True)
    with_secrets.save_secret("app/db", SECRET)
    assert with_secrets.load_secret("app/db") == SECRET
    for path in _files(root):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert "app" not in path.name  # named by a hash, not by the identifier
    # Turning secret backups off removes the ones left behind.
    Backup(root, secrets=False)
    assert [p.parent.name for p in _files(root)] == ["configurations"]


def test_a_damaged_or_foreign_backup_is_skipped(tmp_path, log_stream):
    backup = Backup(tmp_path, secrets=True)
    backup.save_configuration(REF, ConfigValue(b"x", "text/plain", None))
    (path,) = _files(tmp_path)
    path.write_text("{not json")
    assert backup.load_configuration(REF) is None
    path.write_text(json.dumps({"format": 1, "id": "someone/else", "body": "eA=="}))
    assert backup.load_configuration(REF) is None
    assert log_stream.getvalue().count("ignoring an unreadable backup") == 2


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"CONFIG_AGENT_BACKUP_DIR": "relative"}, "CONFIG_AGENT_BACKUP_DIR must be an absolute"),
        ({"CONFIG_AGENT_BACKUP_SECRETS": "true"}, "CONFIG_AGENT_BACKUP_SECRETS needs"),
        (
            {"CONFIG_AGENT_BACKUP_DIR": "/run/x", "CONFIG_AGENT_OUTPUT_DIR": "/run/x/"},
            "must differ from CONFIG_AGENT_OUTPUT_DIR",
        ),
    ],
)
def test_backup_settings_errors(extra, needle):
    base = {
        "CONFIG_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/q",
        "CONFIG_AGENT_TOKEN": "tok-123",
        "CONFIG_AGENT_SECRET_IDS": "a",
    }
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env({**base, **extra})


def _start(aws, make_agent, sec, profile, backup_dir, wait_healthy=True, **extra):
    app, env, prof = profile
    return make_agent(
        wait_healthy=wait_healthy,
        CONFIG_AGENT_SECRET_IDS=sec["Name"],
        CONFIG_AGENT_APPCONFIG_APPLICATION=app,
        CONFIG_AGENT_APPCONFIG_ENVIRONMENT=env,
        CONFIG_AGENT_APPCONFIG_PROFILE=prof,
        CONFIG_AGENT_BACKUP_DIR=str(backup_dir),
        **extra,
    )


def _health(agent):
    status, _, body = get(agent.port, "/health", token=None)
    return status, json.loads(body)["status"]


@pytest.mark.parametrize("backup_secrets", [True, False])
def test_restart_during_an_outage_serves_the_backup_degraded(
    aws, make_agent, tmp_path, backup_secrets
):
    sec = aws.secret("kept-on-disk")
    profile = aws.profile(b'{"kept": true}')
    path = CONFIG_PATH.format(*profile)
    extra = {"CONFIG_AGENT_BACKUP_SECRETS": "true"} if backup_secrets else {}
    first = _start(aws, make_agent, sec, profile, tmp_path / "backup", **extra)
    assert secret_json(first.port, sec["Name"])["SecretString"] == "kept-on-disk"
    first.shutdown()
    aws.proxy.outage = "reset"  # Secrets Manager, SQS and SNS unreachable
    aws.emulator.outage = "503"  # and AppConfig
    second = _start(aws, make_agent, sec, profile, tmp_path / "backup", wait_healthy=False, **extra)
    assert get(second.port, path)[2] == b'{"kept": true}'  # at once, from the backup
    if backup_secrets:
        assert secret_json(second.port, sec["Name"])["SecretString"] == "kept-on-disk"
        assert _health(second) == (200, "degraded")
        wait_for(lambda: second.worker.started.is_set(), what="startup fetch given up")
        assert _health(second) == (200, "degraded")
    else:  # the secret was never written to disk: nothing to serve for it
        assert get(second.port, f"/secretsmanager/get?secretId={sec['Name']}")[0] == 503
        wait_for(lambda: second.worker.started.is_set(), what="startup fetch given up")
        assert _health(second) == (503, "unhealthy")
    aws.proxy.clear()
    aws.emulator.clear()
    wait_for(lambda: _health(second) == (200, "ok"), timeout=10, what="fetched once AWS is back")
