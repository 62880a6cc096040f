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
from pathlib import Path

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


def _wait(predicate, timeout: float, what: str) -> float:
    """Milliseconds until `predicate` holds."""
    return seconds_until(predicate, timeout, what, interval=0.005) * 1000


def _port_from_log(log) -> int | None:
    log.seek(0)
    for line in log.read().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("port"):
            return int(record["port"])
    return None


def main() -> int:
    use_local_credentials("demo")
    aws = LocalAws.start(fault_proxy=False)
    sqs, secrets, appconfig, emulator = aws.sqs, aws.sm, aws.appconfig, aws.emulator
    agents: dict[str, subprocess.Popen] = {}
    logs = {task: tempfile.TemporaryFile("w+") for task in ("task-a", "task-b")}
    try:
        print(f"1. AWS emulator on {aws.endpoint}; creating {ENV}/{SERVICE}'s resources")
        topic, _, dlq_arn = aws.topic(f"{ENV}-{SERVICE}-config-events")
        secret = aws.secret("hunter2-v1", name=f"/{ENV}/{SERVICE}/db-password")
        app_id, env_id, profile_id = aws.profile(
            b'{"greeting": "hello"}', env_id=ENV, app_name=f"{ENV}-platform-config",
            profile_name=SERVICE, label=None)

        print("2. starting two tasks' config agents (python -m config_agent, fan-out mode)")
        common = {**os.environ, **aws.agent_environ(),
                  "CONFIG_AGENT_TOPIC_ARN": topic, "CONFIG_AGENT_DLQ_ARN": dlq_arn,
                  "CONFIG_AGENT_QUEUE_PREFIX": f"{ENV}-{SERVICE}-cfg-",
                  "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3", "CONFIG_AGENT_TOKEN": TOKEN,
                  "CONFIG_AGENT_PORT": "0", "CONFIG_AGENT_SECRETS_PORT": "0",
                  "CONFIG_AGENT_SECRET_IDS": secret["ARN"],
                  "CONFIG_AGENT_APPCONFIG_APPLICATION": app_id,
                  "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env_id,
                  "CONFIG_AGENT_APPCONFIG_PROFILE": profile_id}
        for task, log in logs.items():
            agents[task] = spawn_agent(common, log)
        ports = {}
        for task, log in logs.items():
            _wait(lambda log=log: _port_from_log(log) is not None, 20, f"{task} start")
            port = ports[task] = _port_from_log(log)
            _wait(lambda port=port: _get(port, "/health")[0] == 200, 20, f"{task} health")
        queues = sqs.list_queues(QueueNamePrefix=f"{ENV}-{SERVICE}-cfg-").get("QueueUrls", [])
        print(f"   both healthy; each subscribed its own queue: "
              f"{sorted(q.rsplit('/', 1)[1] for q in queues)}")
        secret_path = f"/secretsmanager/get?secretId={secret['ARN']}"
        config_path = (f"/applications/{app_id}/environments/{env_id}/configurations/"
                       f"{profile_id}")

        def secret_values() -> dict[str, str]:
            return {t: json.loads(_get(p, secret_path)[1])["SecretString"]
                    for t, p in ports.items()}

        def config_values() -> dict[str, str]:
            return {t: _get(p, config_path)[1].decode() for t, p in ports.items()}

        print(f"3. the app in each task reads the secret: {secret_values()}")
        secrets.put_secret_value(SecretId=secret["ARN"], SecretString="hunter2-v2")
        print(f"   secret changed in Secrets Manager; agents still serve {secret_values()} "
              "(no polling)")
        aws.publish(topic, events.secret_api_call("PutSecretValue", secret["Name"], region=REGION))
        took = _wait(lambda: set(secret_values().values()) == {"hunter2-v2"}, 10,
                     "secret refresh")
        print(f"   event published -> every task reads {secret_values()} after {took:.0f} ms")

        print(f"4. the app in each task reads the configuration: {config_values()}")
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id, ConfigurationProfileId=profile_id,
            Content=b'{"greeting": "bonjour"}', ContentType="application/json")["VersionNumber"]
        number = emulator.deploy(app_id, env_id, profile_id, version)
        aws.publish(topic, events.appconfig_start_deployment(
            app_id, env_id, profile_id, deployment_number=number, region=REGION))
        took = _wait(lambda: all("bonjour" in v for v in config_values().values()), 10,
                     "configuration refresh")
        print(f"   deployment event -> every task reads {config_values()} after {took:.0f} ms")
        leaked = False
        for log in logs.values():
            log.seek(0)
            leaked = leaked or "hunter2" in log.read()
        print(f"5. secret values in the agents' logs: {'FOUND (bug!)' if leaked else 'none'}")
        return 1 if leaked else 0
    except TimedOut as timed_out:
        raise SystemExit(f"demo: {timed_out}") from None
    finally:
        codes = dict(zip(agents, stop_agents(agents.values()), strict=True))
        if agents:
            left = sqs.list_queues(QueueNamePrefix=f"{ENV}-{SERVICE}-cfg-").get("QueueUrls", [])
            print(f"6. agents stopped on SIGTERM with exit codes {codes}; "
                  f"agent queues left behind: {len(left)}")
        aws.close()


if __name__ == "__main__":
    sys.exit(main())
