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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "us-west-2"
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


def _wait_for(predicate, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"demo: {what} did not happen within {timeout} s")
        time.sleep(0.005)
    return (time.perf_counter() - start) * 1000


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


def _start_agent(log, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "config_agent"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)


def main() -> int:
    os.environ.update({"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "NO_PROXY": "127.0.0.1,localhost"})
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from tests import event_samples as events
    from tests.config_agent.fakes import AppConfigEmulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    sqs, sns, secrets, appconfig = (
        boto3.client(s, endpoint_url=endpoint, region_name=REGION)
        for s in ("sqs", "sns", "secretsmanager", "appconfig"))
    emulator = AppConfigEmulator(appconfig)
    agents: dict[str, subprocess.Popen] = {}
    logs = {task: tempfile.TemporaryFile("w+") for task in ("task-a", "task-b")}
    try:
        print(f"1. AWS emulator on {endpoint}; creating {ENV}/{SERVICE}'s resources")
        topic = sns.create_topic(Name=f"{ENV}-{SERVICE}-config-events")["TopicArn"]
        dlq = sqs.create_queue(QueueName=f"{ENV}-{SERVICE}-config-events-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        secret = secrets.create_secret(Name=f"/{ENV}/{SERVICE}/db-password",
                                       SecretString="hunter2-v1")
        app_id = appconfig.create_application(Name=f"{ENV}-platform-config")["Id"]
        env_id = ENV  # moto has no AppConfig environments; the data-plane emulator needs none
        profile_id = appconfig.create_configuration_profile(
            ApplicationId=app_id, Name=SERVICE, LocationUri="hosted")["Id"]
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id, ConfigurationProfileId=profile_id,
            Content=b'{"greeting": "hello"}', ContentType="application/json")["VersionNumber"]
        emulator.deploy(app_id, env_id, profile_id, version)

        print("2. starting two tasks' config agents (python -m config_agent, fan-out mode)")
        common = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": endpoint,
                  "AWS_ENDPOINT_URL_APPCONFIGDATA": emulator.url,
                  "AWS_ENDPOINT_URL_APPCONFIG": emulator.url,
                  "CONFIG_AGENT_TOPIC_ARN": topic, "CONFIG_AGENT_DLQ_ARN": dlq_arn,
                  "CONFIG_AGENT_QUEUE_PREFIX": f"{ENV}-{SERVICE}-cfg-",
                  "CONFIG_AGENT_MAX_RECEIVE_COUNT": "3", "CONFIG_AGENT_TOKEN": TOKEN,
                  "CONFIG_AGENT_PORT": "0", "CONFIG_AGENT_SECRETS_PORT": "0",
                  "CONFIG_AGENT_SECRET_IDS": secret["ARN"],
                  "CONFIG_AGENT_APPCONFIG_APPLICATION": app_id,
                  "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env_id,
                  "CONFIG_AGENT_APPCONFIG_PROFILE": profile_id}
        for task, log in logs.items():
            agents[task] = _start_agent(log, common)
        ports = {}
        for task, log in logs.items():
            _wait_for(lambda log=log: _port_from_log(log) is not None, 20, f"{task} start")
            port = ports[task] = _port_from_log(log)
            _wait_for(lambda port=port: _get(port, "/health")[0] == 200, 20, f"{task} health")
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

        def publish(event: dict) -> None:
            # What the EventBridge rule does: the event, unchanged, to the service's topic.
            sns.publish(TopicArn=topic, Message=events.as_message_body(event))

        print(f"3. the app in each task reads the secret: {secret_values()}")
        secrets.put_secret_value(SecretId=secret["ARN"], SecretString="hunter2-v2")
        print(f"   secret changed in Secrets Manager; agents still serve {secret_values()} "
              "(no polling)")
        publish(events.secret_api_call("PutSecretValue", secret["Name"], region=REGION))
        took = _wait_for(lambda: set(secret_values().values()) == {"hunter2-v2"}, 10,
                         "secret refresh")
        print(f"   event published -> every task reads {secret_values()} after {took:.0f} ms")

        print(f"4. the app in each task reads the configuration: {config_values()}")
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id, ConfigurationProfileId=profile_id,
            Content=b'{"greeting": "bonjour"}', ContentType="application/json")["VersionNumber"]
        number = emulator.deploy(app_id, env_id, profile_id, version)
        publish(events.appconfig_start_deployment(app_id, env_id, profile_id,
                                                  deployment_number=number, region=REGION))
        took = _wait_for(lambda: all("bonjour" in v for v in config_values().values()), 10,
                         "configuration refresh")
        print(f"   deployment event -> every task reads {config_values()} after {took:.0f} ms")
        leaked = False
        for log in logs.values():
            log.seek(0)
            leaked = leaked or "hunter2" in log.read()
        print(f"5. secret values in the agents' logs: {'FOUND (bug!)' if leaked else 'none'}")
        return 1 if leaked else 0
    finally:
        codes = {}
        for agent in agents.values():
            agent.terminate()
        for task, agent in agents.items():
            try:
                codes[task] = agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
                codes[task] = "killed"
        if agents:
            left = sqs.list_queues(QueueNamePrefix=f"{ENV}-{SERVICE}-cfg-").get("QueueUrls", [])
            print(f"6. agents stopped on SIGTERM with exit codes {codes}; "
                  f"agent queues left behind: {len(left)}")
        emulator.close()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
