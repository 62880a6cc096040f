"""Local demo of push-driven configuration: nothing leaves this machine.

Starts the AWS emulator (moto) and an AppConfig data-plane emulator on loopback, creates one
service's config topic, DLQ, secret and AppConfig profile as the config pipeline stack does,
starts two tasks' `python -m config_agent` sidecars (each creates and subscribes its own queue),
then changes the secret and the configuration, publishes each event as the pipeline's
EventBridge rule would, and prints what the app in each task sees before and after, with the
latency. Stops everything it started; the agents delete their queues on the way out.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: scripts/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from devtools import events  # noqa: E402
from devtools.agent_process import spawn_agent, stop_agents  # noqa: E402
from devtools.local_aws import REGION, LocalAws, use_local_credentials  # noqa: E402
from devtools.wait import TimedOut, seconds_until  # noqa: E402

ENV, SERVICE = "dev", "web"
TOKEN = "demo-token-" + os.urandom(8).hex()


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _wait(predicate: Callable[..., object], timeout: float, what: str) -> float:
    """Milliseconds until `predicate` holds."""
    return seconds_until(predicate, timeout, what, interval=0.005) * 1000


def _port_from_log(log: IO[str]) -> int | None:
    log.seek(0)
    for line in log.read().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("port"):
            return int(record["port"])
    return None


class Tasks:
    """The service's resources and its two tasks' agents, as the app in each task sees them."""

    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws
        self.topic = aws.topic(f"{ENV}-{SERVICE}-config-events")
        self.secret = aws.secret("hunter2-v1", name=f"/{ENV}/{SERVICE}/db-password")
        self.app_id, self.env_id, self.profile_id = aws.profile(
            b'{"greeting": "hello"}',
            env_id=ENV,
            app_name=f"{ENV}-platform-config",
            profile_name=SERVICE,
            label=None,
        )
        # Live for the whole demo: the agents write to them, secrets_in_logs() reads them.
        self.logs = {task: tempfile.TemporaryFile("w+") for task in ("task-a", "task-b")}  # noqa: SIM115
        self.agents: dict[str, subprocess.Popen[str]] = {}
        self.ports: dict[str, int] = {}

    def agent_environ(self) -> dict[str, str]:
        """Fan-out mode, as the services stack configures the sidecar."""
        return {
            **os.environ,
            **self.aws.agent_environ(),
            "CONFIG_AGENT_TOPIC_ARN": self.topic.arn,
            "CONFIG_AGENT_DLQ_ARN": self.topic.dlq_arn,
            "CONFIG_AGENT_QUEUE_PREFIX": f"{ENV}-{SERVICE}_cfg_",
            "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3",
            "CONFIG_AGENT_TOKEN": TOKEN,
            "CONFIG_AGENT_PORT": "0",
            "CONFIG_AGENT_SECRETS_PORT": "0",
            "CONFIG_AGENT_SECRET_IDS": self.secret["ARN"],
            "CONFIG_AGENT_APPCONFIG_APPLICATION": self.app_id,
            "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": self.env_id,
            "CONFIG_AGENT_APPCONFIG_PROFILE": self.profile_id,
        }

    def start(self) -> None:
        env = self.agent_environ()
        for task, log in self.logs.items():
            self.agents[task] = spawn_agent(env, log)
        for task, log in self.logs.items():
            _wait(lambda log=log: _port_from_log(log) is not None, 20, f"{task} start")
            port = _port_from_log(log)
            assert port is not None  # the wait above saw it
            self.ports[task] = port
            _wait(lambda port=port: _get(port, "/health")[0] == 200, 20, f"{task} health")

    def agent_queues(self) -> list[str]:
        urls = self.aws.sqs.list_queues(QueueNamePrefix=f"{ENV}-{SERVICE}_cfg_")
        return sorted(url.rsplit("/", 1)[1] for url in urls.get("QueueUrls", []))

    def secret_values(self) -> dict[str, str]:
        path = f"/secretsmanager/get?secretId={self.secret['ARN']}"
        return {t: json.loads(_get(p, path)[1])["SecretString"] for t, p in self.ports.items()}

    def config_values(self) -> dict[str, str]:
        path = (
            f"/applications/{self.app_id}/environments/{self.env_id}/configurations/"
            f"{self.profile_id}"
        )
        return {t: _get(p, path)[1].decode() for t, p in self.ports.items()}

    def secrets_in_logs(self) -> bool:
        leaked = False
        for log in self.logs.values():
            log.seek(0)
            leaked = leaked or "hunter2" in log.read()
        return leaked

    def stop(self) -> dict[str, int | str]:
        """SIGTERM both agents (they unsubscribe and delete their queues); exit codes."""
        return dict(zip(self.agents, stop_agents(self.agents.values()), strict=True))


def change_secret(tasks: Tasks) -> None:
    print(f"3. the app in each task reads the secret: {tasks.secret_values()}")
    tasks.aws.sm.put_secret_value(SecretId=tasks.secret["ARN"], SecretString="hunter2-v2")
    print(
        f"   secret changed in Secrets Manager; agents still serve {tasks.secret_values()} "
        "(no polling)"
    )
    tasks.aws.publish(
        tasks.topic.arn,
        events.secret_api_call("PutSecretValue", tasks.secret["Name"], region=REGION),
    )
    took = _wait(
        lambda: set(tasks.secret_values().values()) == {"hunter2-v2"}, 10, "secret refresh"
    )
    print(f"   event published -> every task reads {tasks.secret_values()} after {took:.0f} ms")


def change_configuration(tasks: Tasks) -> None:
    aws = tasks.aws
    print(f"4. the app in each task reads the configuration: {tasks.config_values()}")
    version = aws.hosted_version(tasks.app_id, tasks.profile_id, b'{"greeting": "bonjour"}')
    number = aws.emulator.deploy(tasks.app_id, tasks.env_id, tasks.profile_id, version)
    aws.publish(
        tasks.topic.arn,
        events.appconfig_start_deployment(
            tasks.app_id, tasks.env_id, tasks.profile_id, deployment_number=number, region=REGION
        ),
    )
    took = _wait(
        lambda: all("bonjour" in v for v in tasks.config_values().values()),
        10,
        "configuration refresh",
    )
    print(f"   deployment event -> every task reads {tasks.config_values()} after {took:.0f} ms")


def run(aws: LocalAws) -> int:
    print(f"1. AWS emulator on {aws.endpoint}; creating {ENV}/{SERVICE}'s resources")
    tasks = Tasks(aws)
    try:
        print("2. starting two tasks' config agents (python -m config_agent, fan-out mode)")
        tasks.start()
        print(f"   both healthy; each subscribed its own queue: {tasks.agent_queues()}")
        change_secret(tasks)
        change_configuration(tasks)
        leaked = tasks.secrets_in_logs()
        print(f"5. secret values in the agents' logs: {'FOUND (bug!)' if leaked else 'none'}")
        return 1 if leaked else 0
    finally:
        if tasks.agents:
            codes = tasks.stop()
            print(
                f"6. agents stopped on SIGTERM with exit codes {codes}; agent queues kept "
                f"for the orphan reaper (on ECS it deletes them once the task is STOPPED): "
                f"{len(tasks.agent_queues())}"
            )


def main() -> int:
    use_local_credentials("demo")
    aws = LocalAws.start(fault_proxy=False)
    try:
        return run(aws)
    except TimedOut as timed_out:
        raise SystemExit(f"demo: {timed_out}") from None
    finally:
        aws.close()


if __name__ == "__main__":
    sys.exit(main())
