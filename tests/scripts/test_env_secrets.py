"""`make secrets`: which secrets lack a value; set one from stdin or a file, never argv."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from scripts.env_secrets import HAS_VALUE, MISSING, NO_VALUE, _parser, required_secrets, run
from settings.services import WORKER
from tests.scripts.conftest import as_role, create_config_stack

VALUE = "s3cr3t-value-never-printed"


def _run(env, aws, *argv: str, stdin: str = "") -> int:
    from scripts.aws_session import deploy_session

    return run(
        _parser().parse_args([env.name, *argv]),
        io.StringIO(stdin),
        deploy_session(env, aws),
        (env,),
    )


def test_the_list_follows_the_env_services_not_a_fixed_pair(env):
    """A service of the user's own is listed; nothing hard-codes `web worker`."""
    mine = replace(
        env, services=(*env.services, WORKER.with_(name="billing", secrets=("stripe-key",)))
    )
    names = required_secrets(mine)
    assert "/dev/billing/stripe-key" in names and "/dev/billing/config-agent-token" in names
    assert len(names) == len(set(names)) == sum(len(s.secrets) + 1 for s in mine.services)


def test_each_secret_is_listed_with_whether_it_has_a_value(aws, env, capsys):
    names = required_secrets(env)
    create_config_stack(as_role(env, aws), names[:-1])
    as_role(env, aws).client("secretsmanager").put_secret_value(
        SecretId=names[0], SecretString=VALUE
    )
    assert _run(env, aws) == 0
    lines = capsys.readouterr().out.splitlines()
    states = {line.split()[-1]: line.rsplit(" ", 1)[0].strip() for line in lines[:-1]}
    assert states == {
        names[0]: HAS_VALUE,
        names[-1]: MISSING,
        **dict.fromkeys(names[1:-1], NO_VALUE),
    }
    assert lines[-1].startswith(f"{len(names) - 1} of {len(names)} secrets of dev have no value")


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_a_value_is_set_through_the_role_and_never_printed(aws, env, capsys, tmp_path, source):
    name = required_secrets(env)[1]
    create_config_stack(as_role(env, aws), [name])
    if source == "stdin":
        status = _run(env, aws, "--set", name.split("/", 2)[2], stdin=VALUE + "\n")
    else:
        (tmp_path / "value").write_text(VALUE + "\n")
        status = _run(env, aws, "--set", name, "--file", str(tmp_path / "value"))
    assert status == 0
    stored = as_role(env, aws).client("secretsmanager").get_secret_value(SecretId=name)
    assert stored["SecretString"] == VALUE, "one trailing newline (echo's) is dropped"
    out = capsys.readouterr()
    assert VALUE not in out.out + out.err and name in out.out


def test_a_generated_token_is_random_and_not_printed(aws, env, capsys):
    name = f"/{env.name}/web/config-agent-token"
    create_config_stack(as_role(env, aws), [name])
    assert _run(env, aws, "--set", "web/config-agent-token", "--generate") == 0
    value = (
        as_role(env, aws).client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    )
    assert len(value) == 64 and value not in capsys.readouterr().out


def test_no_option_takes_a_value_from_the_command_line(env):
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args([env.name, "--set", "web/api-key", VALUE])
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    ("argv", "stdin", "reason"),
    [
        (["--set", "web/nope"], VALUE, "is not a secret of dev's services"),
        (["--set", "web/api-key"], "\n", "the value is empty"),
    ],
)
def test_bad_input_is_one_line_and_sets_nothing(aws, env, capsys, argv, stdin, reason):
    create_config_stack(as_role(env, aws), required_secrets(env))
    assert _run(env, aws, *argv, stdin=stdin) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.splitlines()) == 1
    client = as_role(env, aws).client("secretsmanager")
    assert all(
        "VersionIdsToStages" not in client.describe_secret(SecretId=n)
        or not client.describe_secret(SecretId=n)["VersionIdsToStages"]
        for n in required_secrets(env)
    )
