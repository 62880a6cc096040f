"""The preflight names every secret without a value and every image not pushed."""

from __future__ import annotations

from scripts import preflight
from scripts.aws_session import deploy_session
from scripts.env_secrets import required_secrets
from settings.images import built_images
from tests.scripts.conftest import as_role, create_config_stack, create_registry, push


def _deployed_but_for(env, aws, unset_secret: str | None, unpushed: str | None) -> None:
    account = as_role(env, aws)
    create_config_stack(account, required_secrets(env))
    for name in required_secrets(env):
        if name != unset_secret:
            account.client("secretsmanager").put_secret_value(SecretId=name, SecretString="v")
    create_registry(account, env)
    for image in built_images(env):
        if image.repository != unpushed:
            push(account, image.repository, env.services_settings.image_tag)


def test_a_missing_secret_and_a_missing_image_are_each_one_line(aws, env, capsys):
    _deployed_but_for(env, aws, unset_secret="/dev/worker/queue-credentials", unpushed="web")
    found = preflight.problems(deploy_session(env, aws), env)
    assert found == [
        (
            "secret /dev/worker/queue-credentials: NO VALUE (make secrets ENV=dev "
            "SET=worker/queue-credentials < value-file)"
        ),
        "image web:0.1.0: not in the registry (make images ENV=dev)",
    ]
    assert preflight.run(env.name, deploy_session(env, aws), (env,)) == 1
    assert "2 problem(s): services-dev not applied" in capsys.readouterr().err


def test_a_complete_env_passes(aws, env):
    _deployed_but_for(env, aws, unset_secret=None, unpushed=None)
    assert preflight.run(env.name, deploy_session(env, aws), (env,)) == 0


def test_the_tag_checked_is_the_released_one(aws, env):
    """After a release the services pull the parameter's tag, not the settings' first tag."""
    _deployed_but_for(env, aws, unset_secret=None, unpushed=None)
    as_role(env, aws).client("ssm").put_parameter(
        Name=built_images(env)[0].tag_parameter, Value="0.2.0", Type="String", Overwrite=True
    )
    found = preflight.problems(deploy_session(env, aws), env)
    assert found == [
        f"image {built_images(env)[0].repository}:0.2.0: not in the registry (make images ENV=dev)"
    ]
