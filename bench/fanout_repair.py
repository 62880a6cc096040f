"""How long a fan-out agent serves an old value after its subscription disappears (issue 27).

Prints one JSON line per trial and a summary line. The agent runs in-process against moto on
loopback with the shipped defaults (subscription check every 30 s ± 10 %, 20 s long poll, 30 s
visibility); each trial removes the subscription at a random point of the check interval,
changes the secret, and times until the agent serves the new value. A few minutes in total:
`.venv/bin/python bench/fanout_repair.py [trials]`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file: bench/ is on the path, not the root

from config_agent.agent import Agent  # noqa: E402
from config_agent.settings import Settings  # noqa: E402
from devtools.local_aws import LocalAws, local_aws_environ  # noqa: E402
from devtools.wait import wait_for  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
CHECK_SECONDS = 30.0


def _served(agent: Agent, secret_id: str) -> str | None:
    url = (
        f"http://127.0.0.1:{agent.port}/secretsmanager/get?secretId="
        f"{urllib.parse.quote(secret_id, safe='')}"
    )
    request = urllib.request.Request(url, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return str(json.loads(resp.read())["SecretString"])
    except OSError:
        return None


def trial(aws: LocalAws, n: int) -> float:
    """One agent, one lost subscription: seconds until the changed secret is served."""
    topic, secret = aws.topic(), aws.secret(f"repair-{n}-old")
    agent = Agent(
        Settings.from_env(
            {
                "CONFIG_AGENT_TOPIC_ARN": topic.arn,
                "CONFIG_AGENT_DLQ_ARN": topic.dlq_arn,
                "CONFIG_AGENT_QUEUE_PREFIX": f"repair-{n}-",
                "CONFIG_AGENT_TOKEN": TOKEN,
                "CONFIG_AGENT_SECRET_IDS": secret["Name"],
                "CONFIG_AGENT_PORT": "0",
                "CONFIG_AGENT_SECRETS_PORT": "off",
            }
        )
    )
    agent.start()
    try:
        wait_for(lambda: agent.health()[0] == 200, timeout=30, what="agent healthy")
        time.sleep(random.uniform(0, CHECK_SECONDS))  # a random phase of the check interval
        assert agent.own_queue is not None and agent.own_queue.subscription_arn
        aws.sns.unsubscribe(SubscriptionArn=agent.own_queue.subscription_arn)
        started = time.monotonic()
        aws.sm.put_secret_value(SecretId=secret["Name"], SecretString=f"repair-{n}-new")
        wait_for(
            lambda: _served(agent, secret["Name"]) == f"repair-{n}-new",
            timeout=120,
            interval=0.05,
            what="new value served",
        )
        return time.monotonic() - started
    finally:
        agent.shutdown()


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    with local_aws_environ() as aws:
        os.environ.update(aws.agent_environ())
        samples = []
        for n in range(trials):
            samples.append(round(trial(aws, n), 2))
            print(json.dumps({"fanout_subscription_repair_s": samples[-1]}), flush=True)
        print(
            json.dumps(
                {
                    "fanout_subscription_repair_s_max": max(samples),
                    "mean": round(sum(samples) / len(samples), 2),
                    "samples": samples,
                }
            )
        )


if __name__ == "__main__":
    main()
