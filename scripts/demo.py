"""Local demo of push-driven configuration: nothing leaves this machine.

Starts the AWS emulator (moto) and an AppConfig data-plane emulator on loopback, creates one
service's queue, secret and AppConfig profile, starts `python -m config_agent`, then changes the
secret and the configuration, delivers each event as the pipeline's EventBridge rule would, and
prints what the app sees before and after, with the latency. Stops everything it started.
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
    sqs, secrets, appconfig = (boto3.client(s, endpoint_url=endpoint, region_name=REGION)
                               for s in ("sqs", "secretsmanager", "appconfig"))
    emulator = AppConfigEmulator(appconfig)
    agent = None
    log = tempfile.TemporaryFile("w+")
    try:
        print(f"1. AWS emulator on {endpoint}; creating {ENV}/{SERVICE}'s resources")
        dlq = sqs.create_queue(QueueName=f"{ENV}-{SERVICE}-config-events-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName=f"{ENV}-{SERVICE}-config-events", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
            "ReceiveMessageWaitTimeSeconds": "20"})["QueueUrl"]
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

        print("2. starting the config agent (python -m config_agent)")
        agent = subprocess.Popen(
            [sys.executable, "-m", "config_agent"], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=log, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": endpoint,
                 "AWS_ENDPOINT_URL_APPCONFIGDATA": emulator.url,
                 "AWS_ENDPOINT_URL_APPCONFIG": emulator.url,
                 "CONFIG_AGENT_QUEUE_URL": queue, "CONFIG_AGENT_TOKEN": TOKEN,
                 "CONFIG_AGENT_PORT": "0", "CONFIG_AGENT_SECRET_IDS": secret["ARN"],
                 "CONFIG_AGENT_APPCONFIG_APPLICATION": app_id,
                 "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env_id,
                 "CONFIG_AGENT_APPCONFIG_PROFILE": profile_id})
        _wait_for(lambda: _port_from_log(log) is not None, 20, "agent start")
        agent_port = _port_from_log(log)
        _wait_for(lambda: _get(agent_port, "/health")[0] == 200, 20, "agent health")
        secret_path = f"/secretsmanager/get?secretId={secret['ARN']}"
        config_path = (f"/applications/{app_id}/environments/{env_id}/configurations/"
                       f"{profile_id}")

        def secret_value() -> str:
            return json.loads(_get(agent_port, secret_path)[1])["SecretString"]

        print(f"   agent healthy on 127.0.0.1:{agent_port}: {_get(agent_port, '/health')[1]!r}")
        print(f"3. the app reads the secret: {secret_value()!r}")
        secrets.put_secret_value(SecretId=secret["ARN"], SecretString="hunter2-v2")
        print("   secret changed in Secrets Manager; agent still serves "
              f"{secret_value()!r} (no polling)")
        sqs.send_message(QueueUrl=queue, MessageBody=events.as_message_body(
            events.secret_api_call("PutSecretValue", secret["Name"], region=REGION)))
        took = _wait_for(lambda: secret_value() == "hunter2-v2", 10, "secret refresh")
        print(f"   event delivered -> the app reads {secret_value()!r} after {took:.0f} ms")

        print(f"4. the app reads the configuration: {_get(agent_port, config_path)[1]!r}")
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id, ConfigurationProfileId=profile_id,
            Content=b'{"greeting": "bonjour"}', ContentType="application/json")["VersionNumber"]
        number = emulator.deploy(app_id, env_id, profile_id, version)
        sqs.send_message(QueueUrl=queue, MessageBody=events.as_message_body(
            events.appconfig_start_deployment(app_id, env_id, profile_id,
                                              deployment_number=number, region=REGION)))
        took = _wait_for(lambda: b"bonjour" in _get(agent_port, config_path)[1], 10,
                         "configuration refresh")
        print(f"   deployment event -> the app reads {_get(agent_port, config_path)[1]!r} "
              f"after {took:.0f} ms")
        log.seek(0)
        leaked = "hunter2" in log.read()
        print(f"5. secret values in the agent's log: {'FOUND (bug!)' if leaked else 'none'}")
        return 1 if leaked else 0
    finally:
        if agent is not None:
            agent.terminate()
            try:
                code = agent.wait(timeout=10)
                print(f"6. agent stopped on SIGTERM with exit code {code}")
            except subprocess.TimeoutExpired:
                agent.kill()
        emulator.close()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
