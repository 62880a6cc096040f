"""The config-agent suite's moto server, fault proxy, AppConfig emulator and `make_agent`, plus
staged copies of the sample images."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools import events as ev
from tests.config_agent.conftest import TOKEN, _clean_faults, aws, log_stream, make_agent, publish
from tests.samples.image import Image, dockerfile
from tests.samples.proc import Proc

# pytest finds a conftest's fixtures among its module attributes: these of the agent's suite are
# re-exported so that the samples run against the same local AWS and agents. Listing them here
# makes the re-export explicit (pyflakes no longer takes `aws` the parameter for a redefinition
# of an unused import, F811).
__all__ = ["_clean_faults", "aws", "log_stream", "make_agent"]


class Staged:
    """One sample image: its parsed Dockerfile and the directory its WORKDIR maps to."""

    def __init__(self, image: Image, workdir: Path) -> None:
        self.image = image
        self.workdir = workdir

    def spawn(self, **env: str) -> Proc:
        """The container's process: ENTRYPOINT + CMD in the WORKDIR, with the image's ENV."""
        return Proc(self.image.argv, self.image.environment(**env), self.workdir)

    def run(self, argv: list[str] | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        """A command (default: the container's) run to completion in the same environment."""
        return subprocess.run(
            Image.local(argv) if argv else self.image.argv,
            env=self.image.environment(**env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def health_check(self, **env: str) -> subprocess.CompletedProcess[str]:
        """The image's HEALTHCHECK command, as Docker/ECS would run it inside the container."""
        return self.run(self.image.healthcheck, **env)


def _stage(sample: str, tmp_path_factory: pytest.TempPathFactory) -> Staged:
    image = Image.load(dockerfile(sample))
    return Staged(image, image.stage(tmp_path_factory.mktemp(f"{sample}-image")))


@pytest.fixture(scope="session")
def web_image(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    return _stage("web", tmp_path_factory)


@pytest.fixture(scope="session")
def worker_image(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    return _stage("worker", tmp_path_factory)


class Sidecar:
    """A config agent (in-process, on moto) serving one AppConfig profile and some secrets,
    plus the variables the task definition gives the app container to reach it."""

    def __init__(self, aws, make_agent, profile: bytes, secrets: dict[str, dict]) -> None:
        self.aws = aws
        self.ids = aws.profile(profile)
        app, env, prof = self.ids
        self.agent = make_agent(  # fan-out mode on a topic of its own, as the stacks deploy it
            CONFIG_AGENT_SECRET_IDS=",".join(s["ARN"] for s in secrets.values()),
            CONFIG_AGENT_APPCONFIG_APPLICATION=app,
            CONFIG_AGENT_APPCONFIG_ENVIRONMENT=env,
            CONFIG_AGENT_APPCONFIG_PROFILE=prof,
        )
        # As modules/task_definition.app_container sets them, with ServiceConfig.app_environment
        # (URL: this agent's free port).
        self.app_env = {
            "CONFIG_AGENT_URL": f"http://127.0.0.1:{self.agent.port}",
            "CONFIG_AGENT_TOKEN": TOKEN,
            "APPCONFIG_APPLICATION_ID": app,
            "APPCONFIG_ENVIRONMENT_ID": env,
            "APPCONFIG_PROFILE_ID": prof,
            **{f"SECRET_ARN_{name}": s["ARN"] for name, s in secrets.items()},
        }

    def deploy(self, content: bytes) -> None:
        """A new hosted version, deployed, and the event the pipeline would push to the agent."""
        app, env, prof = self.ids
        version = self.aws.hosted_version(app, prof, content)
        number = self.aws.emulator.deploy(app, env, prof, version)
        publish(
            self.aws,
            self.agent,
            ev.appconfig_start_deployment(app, env, prof, deployment_number=number),
        )

    def rotate(self, secret: dict, value: str) -> None:
        """A new secret value and the PutSecretValue event."""
        self.aws.sm.put_secret_value(SecretId=secret["ARN"], SecretString=value)
        publish(self.aws, self.agent, ev.secret_api_call("PutSecretValue", secret["ARN"]))


@pytest.fixture
def sidecar(aws, make_agent):
    """`sidecar(profile_json_bytes, NAME=secret, ...)` -> a started `Sidecar`."""
    return lambda profile, **secrets: Sidecar(aws, make_agent, profile, secrets)
