"""Benchmark the config agent on loopback: prints ONE JSON LINE PER FIGURE to stdout.

Starts moto (in-process), the fault proxy and the AppConfig data-plane emulator from
tests/config_agent/fakes.py, runs `python -m config_agent` as a subprocess, measures, and stops
everything. Bounded: about 45 s in total. Progress notes go to stderr.

Figures: change->served latency (secret and configuration), cached read latency and
throughput (keep-alive clients in separate processes), agent RSS, AWS calls while idle
extrapolated per hour versus a 45 s polling agent, and fan-out change->served (two agents in
CONFIG_AGENT_TOPIC_ARN mode, one SNS publish, until both serve the new value).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token-0123456789abcdef"
REGION = "us-west-2"
POLL_BASELINE_S = 45  # AWS AppConfig Agent default poll interval


def emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)


def note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


# --- load client (runs in its own process) ----------------------------------------------------

def load_client(port: int, path: str, duration: float, threads: int) -> None:
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_at = time.monotonic() + 0.3

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        headers = {"X-Aws-Parameters-Secrets-Token": TOKEN}
        local: list[float] = []
        bad = 0
        while time.monotonic() < start_at:
            time.sleep(0.005)
        end = start_at + duration
        while True:
            t0 = time.perf_counter()
            if time.monotonic() >= end:
                break
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                bad += 1
            local.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            lat.extend(local)
            errors[0] += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps({"count": len(lat), "errors": errors[0],
                      "lat_ms": [round(x * 1000, 4) for x in lat]}))


# --- main benchmark ---------------------------------------------------------------------------

def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
    resp = conn.getresponse()
    return resp.status, resp.read()


def wait_healthy(proc: subprocess.Popen, deadline: float,
                 what: str) -> tuple[int, http.client.HTTPConnection]:
    """(port, keep-alive connection) once the agent listens and reports healthy."""
    # The port: the agent logs it at INFO; at WARNING we find it from /proc instead.
    port = None
    while port is None and time.monotonic() < deadline:
        port = _listening_port(proc.pid)
        time.sleep(0.05)
    if port is None:
        raise SystemExit(f"{what} did not start listening")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while get(conn, "/health")[0] != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not become healthy")
        time.sleep(0.05)
    return port, conn


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", nargs=4, metavar=("PORT", "PATH", "SECONDS", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=2, help="keep-alive connections each")
    parser.add_argument("--idle-seconds", type=float, default=91.0,
                        help="idle window; >= 2 baseline poll intervals to count real polls")
    args = parser.parse_args()
    if args.load:
        port, path, seconds, threads = args.load
        load_client(int(port), path, float(seconds), int(threads))
        return 0

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "NO_PROXY": "127.0.0.1,localhost"})
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from tests import event_samples as ev
    from tests.config_agent.fakes import AppConfigEmulator, FaultProxy

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, mport = moto.get_host_and_port()
    endpoint = f"http://{host}:{mport}"
    kw = dict(endpoint_url=endpoint, region_name=REGION)
    sqs, sm, appconfig = (boto3.client(s, **kw) for s in ("sqs", "secretsmanager", "appconfig"))
    proxy = FaultProxy((host, mport))
    emulator = AppConfigEmulator(appconfig)

    queue = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    secret = sm.create_secret(Name="bench/db", SecretString="value-0")
    app = appconfig.create_application(Name="bench")["Id"]
    prof = appconfig.create_configuration_profile(ApplicationId=app, Name="main",
                                                  LocationUri="hosted")["Id"]
    env_id = "benchenv"
    appconfig.create_hosted_configuration_version(
        ApplicationId=app, ConfigurationProfileId=prof, Content=b'{"n": 0}',
        ContentType="application/json")
    emulator.deploy(app, env_id, prof, 1)

    agent_env = {**os.environ, "PYTHONPATH": str(ROOT),
                 "AWS_ENDPOINT_URL": proxy.url,
                 "AWS_ENDPOINT_URL_APPCONFIGDATA": emulator.url,
                 "AWS_ENDPOINT_URL_APPCONFIG": emulator.url,
                 "CONFIG_AGENT_QUEUE_URL": queue, "CONFIG_AGENT_TOKEN": TOKEN,
                 "CONFIG_AGENT_PORT": "0", "CONFIG_AGENT_SECRETS_PORT": "off",
                 "CONFIG_AGENT_SECRET_IDS": secret["Name"],
                 "CONFIG_AGENT_APPCONFIG_APPLICATION": app,
                 "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": env_id,
                 "CONFIG_AGENT_APPCONFIG_PROFILE": prof,
                 "CONFIG_AGENT_LOG_LEVEL": "WARNING"}
    # Files, not pipes: an unread pipe that fills up would stall the process writing to it.
    agent_log = tempfile.TemporaryFile("w+")
    agent = subprocess.Popen([sys.executable, "-m", "config_agent"], env=agent_env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=agent_log, text=True)
    try:
        port, conn = wait_healthy(agent, time.monotonic() + 20, "agent")
        note(f"agent pid {agent.pid} healthy on port {port}")
        secret_path = f"/secretsmanager/get?secretId={secret['Name']}"
        config_path = f"/applications/{app}/environments/{env_id}/configurations/{prof}"

        # 1. change -> served, secrets
        lat: list[float] = []
        for i in range(1, args.changes + 1):
            want = f"value-{i}"
            sm.put_secret_value(SecretId=secret["Name"], SecretString=want)
            t0 = time.perf_counter()
            sqs.send_message(QueueUrl=queue, MessageBody=ev.as_message_body(
                ev.secret_api_call("PutSecretValue", secret["ARN"])))
            while json.loads(get(conn, secret_path)[1]).get("SecretString") != want:
                if time.perf_counter() - t0 > 10:
                    raise SystemExit("secret change not served within 10 s")
                time.sleep(0.002)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        emit("agent_change_to_served_ms", kind="secret", n=len(lat), p50=round(pct(lat, .5), 1),
             p99=round(pct(lat, .99), 1), max=round(lat[-1], 1), goal_p99=1000)

        # 2. change -> served, AppConfig (new hosted version + deployment event)
        lat = []
        for i in range(1, max(5, args.changes // 2) + 1):
            body = json.dumps({"n": i}).encode()
            version = appconfig.create_hosted_configuration_version(
                ApplicationId=app, ConfigurationProfileId=prof, Content=body,
                ContentType="application/json")["VersionNumber"]
            number = emulator.deploy(app, env_id, prof, version)
            t0 = time.perf_counter()
            sqs.send_message(QueueUrl=queue, MessageBody=ev.as_message_body(
                ev.appconfig_start_deployment(app, env_id, prof, deployment_number=number)))
            while get(conn, config_path)[1] != body:
                if time.perf_counter() - t0 > 10:
                    raise SystemExit("configuration change not served within 10 s")
                time.sleep(0.002)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        emit("agent_change_to_served_ms", kind="appconfig", n=len(lat),
             p50=round(pct(lat, .5), 1), p99=round(pct(lat, .99), 1), max=round(lat[-1], 1),
             goal_p99=1000)
        conn.close()

        # 3. cached reads: keep-alive clients in separate processes
        outs = [tempfile.TemporaryFile("w+") for _ in range(args.clients)]
        clients = [subprocess.Popen(
            [sys.executable, __file__, "--load", str(port), secret_path,
             str(args.read_seconds), str(args.threads)], stdout=out, text=True)
            for out in outs]
        peak_rss = 0
        while any(c.poll() is None for c in clients):
            peak_rss = max(peak_rss, rss_kb(agent.pid))
            time.sleep(0.1)
        reads: list[float] = []
        errors = 0
        for handle in outs:
            handle.seek(0)
            out = json.loads(handle.read())
            reads.extend(out["lat_ms"])
            errors += out["errors"]
        reads.sort()
        emit("agent_cached_read_ms", n=len(reads), errors=errors,
             connections=args.clients * args.threads, p50=round(pct(reads, .5), 3),
             p99=round(pct(reads, .99), 3), goal_p99=2)
        emit("agent_cached_read_rps", value=round(len(reads) / args.read_seconds),
             connections=args.clients * args.threads, goal_min=3000)

        # 4. memory
        emit("agent_rss_mb", value=round(rss_kb(agent.pid) / 1024, 1),
             peak_during_load=round(peak_rss / 1024, 1),
             hwm=round(rss_kb(agent.pid, "VmHWM") / 1024, 1), goal_max=60)

        # 5. idle: no fetches at all, only SQS long polls
        fetch_ops = ("GetSecretValue",), ("GetLatestConfiguration", "StartConfigurationSession")
        time.sleep(1.0)  # let the last deployment event be deleted

        def counts() -> tuple[int, int]:
            return (sum(proxy.count(o) for o in fetch_ops[0])
                    + sum(emulator.count(o) for o in fetch_ops[1]), proxy.count("ReceiveMessage"))

        # Side by side: a baseline that polls like the AWS agents (every 45 s, both items),
        # through the same counting proxy/emulator, over the same idle window.
        stop_baseline = threading.Event()
        baseline_calls = [0]

        def baseline_poller() -> None:
            sm_poll = boto3.client("secretsmanager", endpoint_url=proxy.url, region_name=REGION)
            data = boto3.client("appconfigdata", endpoint_url=emulator.url, region_name=REGION)
            token = data.start_configuration_session(
                ApplicationIdentifier=app, EnvironmentIdentifier=env_id,
                ConfigurationProfileIdentifier=prof,
                RequiredMinimumPollIntervalInSeconds=15)["InitialConfigurationToken"]
            baseline_calls[0] += 1
            while not stop_baseline.is_set():
                sm_poll.get_secret_value(SecretId=secret["Name"])
                token = data.get_latest_configuration(ConfigurationToken=token)[
                    "NextPollConfigurationToken"]
                baseline_calls[0] += 2
                stop_baseline.wait(POLL_BASELINE_S)

        before = counts()
        baseline = threading.Thread(target=baseline_poller, daemon=True)
        baseline.start()
        time.sleep(args.idle_seconds)
        stop_baseline.set()
        baseline.join(timeout=10)
        after = counts()
        fetches = after[0] - before[0] - baseline_calls[0]
        receives = after[1] - before[1]
        items = 2
        per_hour = 3600 / args.idle_seconds
        emit("agent_idle_fetch_calls", window_s=args.idle_seconds, value=fetches, goal=0)
        emit("agent_idle_aws_calls_per_hour", window_s=args.idle_seconds, items=items,
             push_fetches=round(fetches * per_hour),
             push_sqs_receives=round(receives * per_hour),
             polling_baseline_fetches_measured=round(baseline_calls[0] * per_hour),
             polling_baseline_fetches_steady_state=round(items * 3600 / POLL_BASELINE_S),
             note="push: long polls only, constant in the number of items; "
                  "baseline: 2 fetches per 45 s per item set, grows with items")

        # 6. fan-out: two agents, each with its own queue on one SNS topic
        emit("agent_fanout_change_to_served_ms", **fanout_latency(
            args, endpoint, agent_env, secret, ev))
        return 0
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                code = agent.wait(timeout=10)
                note(f"agent exited with {code} after SIGTERM")
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        proxy.close()
        emulator.close()
        moto.stop()


def fanout_latency(args: argparse.Namespace, endpoint: str, base_env: dict[str, str],
                   secret: dict[str, Any], ev: Any) -> dict[str, Any]:
    """Publish one event to the topic; latency until BOTH agents serve the new value."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION)
    sns, sqs, sm = (boto3.client(s, **kw) for s in ("sns", "sqs", "secretsmanager"))
    topic = sns.create_topic(Name=f"bench-{uuid.uuid4().hex[:8]}")["TopicArn"]
    dlq = sqs.create_queue(QueueName=f"bench-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    env = {k: v for k, v in base_env.items() if k != "CONFIG_AGENT_QUEUE_URL"}
    env.update({"CONFIG_AGENT_TOPIC_ARN": topic, "CONFIG_AGENT_DLQ_ARN": dlq_arn,
                "CONFIG_AGENT_QUEUE_PREFIX": "bench-cfg-"})
    agents = [subprocess.Popen([sys.executable, "-m", "config_agent"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        conns = [wait_healthy(proc, deadline, "fan-out agent")[1] for proc in agents]
        note("fan-out agents healthy")
        path = f"/secretsmanager/get?secretId={secret['Name']}"
        lat: list[float] = []
        for i in range(1, args.changes + 1):
            want = f"fanout-{i}"
            sm.put_secret_value(SecretId=secret["Name"], SecretString=want)
            t0 = time.perf_counter()
            sns.publish(TopicArn=topic, Message=ev.as_message_body(
                ev.secret_api_call("PutSecretValue", secret["ARN"])))
            pending = list(conns)
            while pending:
                pending = [c for c in pending
                           if json.loads(get(c, path)[1]).get("SecretString") != want]
                if time.perf_counter() - t0 > 10:
                    raise SystemExit("fan-out change not served by both agents within 10 s")
                time.sleep(0.002)
            lat.append((time.perf_counter() - t0) * 1000)
        for conn in conns:
            conn.close()
        lat.sort()
        return {"agents": 2, "n": len(lat), "p50": round(pct(lat, .5), 1),
                "p99": round(pct(lat, .99), 1), "max": round(lat[-1], 1), "goal_p99": 1000}
    finally:
        for proc in agents:
            proc.send_signal(signal.SIGTERM)
        for proc in agents:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _listening_port(pid: int) -> int | None:
    """The agent's loopback listening port, from /proc (no dependency on log level)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except (FileNotFoundError, PermissionError):
        return None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, state, inode = cols[1], cols[3], cols[9]
        if state == "0A" and inode in inodes and local.startswith("0100007F:"):
            return int(local.split(":")[1], 16)
    return None


if __name__ == "__main__":
    sys.exit(main())
