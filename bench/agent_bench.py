"""Benchmark the config agent on loopback: prints ONE JSON LINE PER FIGURE to stdout.

Starts moto (its own process), the fault proxy and the AppConfig data-plane emulator from
devtools/, runs `python -m config_agent` as subprocesses, measures, and stops
everything. Bounded: a few minutes in total. Progress notes go to stderr.

Figures: change->served latency (secret and configuration, one agent; secret, 10 fan-out agents
on one SNS topic, until all 10 serve it); cached reads (closed-loop throughput on a few
connections; latency over 50 paced keep-alive connections) with the agent's RSS; AWS calls while
idle versus a 45 s polling agent; recovery after a 10 s outage of every AWS endpoint and after a
Secrets Manager 5xx spell; an unrelated change queued behind 500 duplicate events.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: bench/ is on the path, not the root
    sys.path.insert(0, str(ROOT))

from devtools import events  # noqa: E402
from devtools.agent_process import spawn_agent, stop_agents  # noqa: E402
from devtools.local_aws import REGION, LocalAws, use_local_credentials  # noqa: E402
from devtools.wait import TimedOut, seconds_until  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
POLL_BASELINE_S = 45  # AWS AppConfig Agent default poll interval


def emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)


def note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def summary(values_ms: list[float], digits: int = 1) -> dict[str, Any]:
    values = sorted(values_ms)
    return {
        "n": len(values),
        "p50": round(pct(values, 0.5), digits),
        "p99": round(pct(values, 0.99), digits),
        "max": round(values[-1], digits),
    }


# --- load clients (each runs in its own process) ------------------------------------------------


def load_client(port: int, path: str, duration: float, threads: int) -> None:
    """Closed loop: `threads` keep-alive connections, each sending its next request at once."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_at = time.monotonic() + 0.5

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        headers = {"X-Aws-Parameters-Secrets-Token": TOKEN}
        local: list[float] = []
        bad = 0
        time.sleep(max(0.0, start_at - time.monotonic()))
        end = start_at + duration
        while time.monotonic() < end:
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            local.append(time.perf_counter() - t0)
            bad += resp.status != 200
        conn.close()
        with lock:
            lat.extend(local)
            errors[0] += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(
        json.dumps(
            {"count": len(lat), "errors": errors[0], "lat_ms": [round(x * 1000, 4) for x in lat]}
        )
    )


def paced_client(port: int, path: str, duration: float, connections: int, rate: float) -> None:
    """`connections` keep-alive connections, each sending `rate` requests/s, from one event
    loop (non-blocking sockets): the client adds next to no CPU or scheduling noise."""
    import selectors

    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Aws-Parameters-Secrets-Token: {TOKEN}\r\n\r\n"
    ).encode()
    sel = selectors.DefaultSelector()
    start = time.monotonic() + 0.5
    conns = []
    for i in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        # Spread over one interval, as independent clients would be.
        conn = {"sock": sock, "due": start + i / connections / rate, "sent": None, "buf": b""}
        conns.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)
    lat: list[float] = []
    errors = 0
    end = start + duration
    while True:
        now = time.monotonic()
        if now >= end and all(c["sent"] is None for c in conns):
            break
        for conn in conns:
            if conn["sent"] is None and conn["due"] <= now < end:
                conn["sock"].send(request)
                conn["sent"] = time.perf_counter()
                conn["due"] += 1.0 / rate
        waits = [c["due"] for c in conns if c["sent"] is None] or [now + 0.01]
        for key, _ in sel.select(timeout=max(0.0, min(waits) - time.monotonic())):
            conn = key.data
            conn["buf"] += conn["sock"].recv(65536)
            head, sep, body = conn["buf"].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) < length:
                continue
            lat.append(time.perf_counter() - conn["sent"])
            errors += not head.startswith(b"HTTP/1.1 200")
            conn["buf"], conn["sent"] = body[length:], None
    for conn in conns:
        conn["sock"].close()
    print(
        json.dumps(
            {"count": len(lat), "errors": errors, "lat_ms": [round(x * 1000, 4) for x in lat]}
        )
    )


# --- helpers ------------------------------------------------------------------------------------


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
    resp = conn.getresponse()
    return resp.status, resp.read()


def secret_string(conn: http.client.HTTPConnection, path: str) -> str | None:
    status, body = get(conn, path)
    return json.loads(body).get("SecretString") if status == 200 else None


def start_agent(env: dict[str, str]) -> subprocess.Popen:
    # Outlives this function: the agent writes to it and refreshed_at() reads it later.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115
    proc = spawn_agent(env, log)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def refreshed_at(proc: subprocess.Popen) -> dict[str, float]:
    """Secret version id -> epoch seconds the agent cached it (its INFO log, ms resolution)."""
    from datetime import datetime

    log = proc.log  # type: ignore[attr-defined]
    log.seek(0)
    out: dict[str, float] = {}
    for line in log:
        doc = json.loads(line)
        if doc.get("msg") == "secret refreshed" and doc.get("changed"):
            ts = datetime.strptime(doc["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
            out[doc["version_id"]] = ts.replace(tzinfo=UTC).timestamp()
    return out


def wait_healthy(
    proc: subprocess.Popen, deadline: float, what: str
) -> tuple[int, http.client.HTTPConnection]:
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


class World:
    """Local AWS (moto in its own process, fault proxy, AppConfig emulator) and the resources
    every scenario shares."""

    def __init__(self) -> None:
        # moto in its own process: the bench's polling must not compete with it for a GIL.
        self.aws = aws = LocalAws.start(own_process=True)
        self.sqs, self.sm, self.sns, self.appconfig = aws.sqs, aws.sm, aws.sns, aws.appconfig
        self.proxy, self.emulator = aws.proxy, aws.emulator
        self.secret = aws.secret("value-0", name="bench/db")
        self.app, self.env_id, self.prof = aws.profile(
            b'{"n": 0}', env_id="benchenv", app_name="bench", label=None
        )
        self.base_env = {
            **os.environ,
            **aws.agent_environ(),
            "CONFIG_AGENT_TOKEN": TOKEN,
            "CONFIG_AGENT_PORT": "0",
            "CONFIG_AGENT_SECRETS_PORT": "off",
            "CONFIG_AGENT_SECRET_IDS": self.secret["Name"],
            "CONFIG_AGENT_APPCONFIG_APPLICATION": self.app,
            "CONFIG_AGENT_APPCONFIG_ENVIRONMENT": self.env_id,
            "CONFIG_AGENT_APPCONFIG_PROFILE": self.prof,
            "CONFIG_AGENT_LOG_LEVEL": "WARNING",
        }
        self.secret_path = f"/secretsmanager/get?secretId={self.secret['Name']}"
        self.config_path = (
            f"/applications/{self.app}/environments/{self.env_id}/configurations/{self.prof}"
        )
        self._changes = 0

    def fanout_env(self, secret_ids: str | None = None, direct: bool = False) -> dict[str, str]:
        """A new topic (+ DLQ) and the environment of fan-out agents on it (`direct`: talking
        to moto itself, not through the fault proxy)."""
        topic = self.aws.topic(f"bench-{uuid.uuid4().hex[:8]}")
        env = {
            **self.base_env,
            **self.aws.agent_environ(through_proxy=not direct),
            "CONFIG_AGENT_TOPIC_ARN": topic.arn,
            "CONFIG_AGENT_DLQ_ARN": topic.dlq_arn,
            "CONFIG_AGENT_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:4]}-",
        }
        if secret_ids is not None:
            env["CONFIG_AGENT_SECRET_IDS"] = secret_ids
        return env

    def change_secret(self, topic: str, secret: dict[str, Any] | None = None) -> str:
        """New value, then the event on the topic (what EventBridge does); returns the value."""
        secret = secret or self.secret
        self._changes += 1
        want = f"value-{self._changes}"
        self.sm.put_secret_value(SecretId=secret["Name"], SecretString=want)
        self.sns.publish(TopicArn=topic, Message=self.event(secret))
        return want

    def event(self, secret: dict[str, Any]) -> str:
        return events.as_message_body(events.secret_api_call("PutSecretValue", secret["ARN"]))

    def close(self) -> None:
        self.aws.close()


# --- scenarios ----------------------------------------------------------------------------------


def change_to_served(w: World, args: argparse.Namespace) -> None:
    """One agent on a queue of its own: secret and configuration changes, then reads and idle."""
    queue = w.sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    agent = start_agent({**w.base_env, "CONFIG_AGENT_QUEUE_URL": queue})
    try:
        port, conn = wait_healthy(agent, time.monotonic() + 20, "agent")
        note(f"agent pid {agent.pid} healthy on port {port}")
        emit(
            "agent_change_to_served_ms",
            kind="secret",
            **summary(_secret_changes(w, queue, conn, args.changes)),
            goal_p99=1000,
        )
        emit(
            "agent_change_to_served_ms",
            kind="appconfig",
            **summary(_config_changes(w, queue, conn, max(5, args.changes // 2))),
            goal_p99=1000,
        )
        conn.close()
        cached_reads(w, args, agent.pid, port)
        header_flood(agent.pid, port)
        idle_calls(w, args)
    finally:
        stop_agents([agent])


def _secret_changes(
    w: World, queue: str, conn: http.client.HTTPConnection, changes: int
) -> list[float]:
    """Milliseconds from each event sent until the agent serves the new secret value."""
    lat = []
    for i in range(changes):
        want = f"value-q-{i}"
        w.sm.put_secret_value(SecretId=w.secret["Name"], SecretString=want)
        t0 = time.perf_counter()
        w.sqs.send_message(QueueUrl=queue, MessageBody=w.event(w.secret))
        seconds_until(
            lambda want=want: secret_string(conn, w.secret_path) == want, 10, "secret change"
        )
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


def _config_changes(
    w: World, queue: str, conn: http.client.HTTPConnection, changes: int
) -> list[float]:
    """Milliseconds from each deployment event sent until the agent serves the new content."""
    lat = []
    for i in range(1, changes + 1):
        body = json.dumps({"n": i}).encode()
        version = w.aws.hosted_version(w.app, w.prof, body)
        number = w.emulator.deploy(w.app, w.env_id, w.prof, version)
        t0 = time.perf_counter()
        w.sqs.send_message(
            QueueUrl=queue,
            MessageBody=events.as_message_body(
                events.appconfig_start_deployment(w.app, w.env_id, w.prof, deployment_number=number)
            ),
        )
        seconds_until(
            lambda body=body: get(conn, w.config_path)[1] == body, 10, "configuration change"
        )
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


def _load(
    port: int, path: str, seconds: float, clients: int, connections: int, rate: float, pid: int
) -> tuple[list[float], int, float]:
    """Run client processes; (sorted latencies ms, errors, peak agent RSS MB)."""
    # Each client writes its JSON here; read back below once every client has exited.
    outs = [tempfile.TemporaryFile("w+") for _ in range(clients)]  # noqa: SIM115
    mode = "paced" if rate else "closed"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--load",
                mode,
                str(port),
                path,
                str(seconds),
                str(connections),
                str(rate),
            ],
            stdout=out,
            text=True,
        )
        for out in outs
    ]
    peak = 0
    while any(p.poll() is None for p in procs):
        peak = max(peak, rss_kb(pid))
        time.sleep(0.1)
    lat: list[float] = []
    errors = 0
    for out in outs:
        out.seek(0)
        doc = json.loads(out.read())
        lat.extend(doc["lat_ms"])
        errors += doc["errors"]
    return sorted(lat), errors, round(peak / 1024, 1)


def cached_reads(w: World, args: argparse.Namespace, pid: int, port: int) -> None:
    cpu_before = cpu_s(pid)
    lat, errors, peak = _load(port, w.secret_path, args.read_seconds, 2, 2, 0, pid)
    # CPU per request: what a busy machine's scheduling does not blur (latency tails it does).
    cpu_us = round((cpu_s(pid) - cpu_before) * 1e6 / max(1, len(lat)), 1)
    emit(
        "agent_cached_read_ms",
        mode="closed-loop",
        connections=4,
        errors=errors,
        **summary(lat, 3),
        agent_cpu_us_per_request=cpu_us,
        goal_p99=2,
    )
    emit(
        "agent_cached_read_rps",
        value=round(len(lat) / args.read_seconds),
        connections=4,
        goal_min=3000,
    )
    # 50 keep-alive connections at once, each a client sending 50 requests/s (2,500 req/s in
    # all): latency with many connections open, not queueing behind a saturated loop.
    lat, errors, peak50 = _load(port, w.secret_path, args.read_seconds, 1, 50, 50, pid)
    emit(
        "agent_cached_read_ms",
        mode="paced",
        connections=50,
        rate_per_connection=50,
        errors=errors,
        **summary(lat, 3),
        goal_p99=5,
    )
    emit(
        "agent_rss_mb",
        value=round(rss_kb(pid) / 1024, 1),
        peak_during_load=max(peak, peak50),
        hwm=round(rss_kb(pid, "VmHWM") / 1024, 1),
        connections=50,
        goal_max=60,
    )
    # 200 pooled keep-alive connections (5 requests/s each): the old cap of 100 refused half.
    lat, errors, peak200 = _load(port, w.secret_path, args.read_seconds, 1, 200, 5, pid)
    emit(
        "agent_keepalive_200", errors=errors, **summary(lat, 3), peak_rss_mb=peak200, goal_errors=0
    )


def header_flood(pid: int, port: int) -> None:
    """20 connections sending 99 headers of 65,000 bytes each, no token: RSS must stay flat
    (the 16 KiB head limit answers 431 long before)."""

    def flood() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                for i in range(99):
                    sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 65000))
                sock.sendall(b"\r\n")
                sock.recv(100)
        except OSError:
            pass  # refused mid-send: what the limit is for

    before = rss_kb(pid)
    peak = before
    threads = [threading.Thread(target=flood) for _ in range(20)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_kb(pid))
        time.sleep(0.01)
    time.sleep(1.0)
    emit(
        "agent_rss_under_header_flood_mb",
        before=round(before / 1024, 1),
        peak=round(peak / 1024, 1),
        after=round(rss_kb(pid) / 1024, 1),
        connections=20,
        goal_max=60,
    )


def idle_calls(w: World, args: argparse.Namespace) -> None:
    """No fetches at all while idle, only SQS long polls; a 45 s poller side by side."""
    import boto3

    time.sleep(1.0)  # let the last deployment event be deleted

    def counts() -> tuple[int, int]:
        fetches = (
            w.proxy.count("GetSecretValue")
            + w.emulator.count("GetLatestConfiguration")
            + w.emulator.count("StartConfigurationSession")
        )
        return fetches, w.proxy.count("ReceiveMessage")

    stop_baseline = threading.Event()
    baseline_calls = [0]

    def baseline_poller() -> None:
        sm_poll = boto3.client("secretsmanager", endpoint_url=w.proxy.url, region_name=REGION)
        data = boto3.client("appconfigdata", endpoint_url=w.emulator.url, region_name=REGION)
        token = data.start_configuration_session(
            ApplicationIdentifier=w.app,
            EnvironmentIdentifier=w.env_id,
            ConfigurationProfileIdentifier=w.prof,
            RequiredMinimumPollIntervalInSeconds=15,
        )["InitialConfigurationToken"]
        baseline_calls[0] += 1
        while not stop_baseline.is_set():
            sm_poll.get_secret_value(SecretId=w.secret["Name"])
            token = data.get_latest_configuration(ConfigurationToken=token)[
                "NextPollConfigurationToken"
            ]
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
    per_hour = 3600 / args.idle_seconds
    emit("agent_idle_fetch_calls", window_s=args.idle_seconds, value=fetches, goal=0)
    emit(
        "agent_idle_aws_calls_per_hour",
        window_s=args.idle_seconds,
        items=2,
        push_fetches=round(fetches * per_hour),
        push_sqs_receives=round((after[1] - before[1]) * per_hour),
        polling_baseline_fetches_measured=round(baseline_calls[0] * per_hour),
        polling_baseline_fetches_steady_state=round(2 * 3600 / POLL_BASELINE_S),
        note="push: long polls only, constant in the number of items; "
        "baseline: 2 fetches per 45 s per item set, grows with items",
    )


def fanout(w: World, args: argparse.Namespace) -> None:
    """One change + event on the topic: latency until ALL fan-out agents cached the new value.

    Timed from each agent's own log line (written as it caches the value), so that polling ten
    agents does not load the two cores the agents and moto share; the bench only polls, slowly,
    to know when to make the next change.
    """
    env = {**w.fanout_env(direct=True), "CONFIG_AGENT_LOG_LEVEL": "INFO"}
    topic = env["CONFIG_AGENT_TOPIC_ARN"]
    agents = [start_agent(env) for _ in range(args.fanout_agents)]
    try:
        deadline = time.monotonic() + 60
        conns = [wait_healthy(proc, deadline, "fan-out agent")[1] for proc in agents]
        note(f"{len(agents)} fan-out agents healthy")
        cpu_before = [cpu_s(p.pid) for p in agents] + [cpu_s(w.aws.moto.pid)]
        changes: list[tuple[str, float]] = []
        for i in range(args.changes):
            want = f"fanout-{i}"
            t0 = time.time()
            version = w.sm.put_secret_value(SecretId=w.secret["Name"], SecretString=want)[
                "VersionId"
            ]
            w.sns.publish(TopicArn=topic, Message=w.event(w.secret))
            changes.append((version, t0))
            for conn in conns:
                seconds_until(
                    lambda c=conn, want=want: secret_string(c, w.secret_path) == want,
                    10,
                    "fan-out change",
                )
            time.sleep(0.05)
        for conn in conns:
            conn.close()
        cpu = [cpu_s(p.pid) for p in agents] + [cpu_s(w.aws.moto.pid)]
        agent_cpu = sum(cpu[:-1]) - sum(cpu_before[:-1])
        moto_cpu = cpu[-1] - cpu_before[-1]
        cached = [refreshed_at(proc) for proc in agents]
        last = [(max(seen[v] for seen in cached) - t0) * 1000 for v, t0 in changes]
        first = summary([(min(seen[v] for seen in cached) - t0) * 1000 for v, t0 in changes])
        emit(
            "agent_fanout_change_to_served_ms",
            agents=len(agents),
            **summary(last),
            first_agent_p50=first["p50"],
            first_agent_p99=first["p99"],
            goal_p99=100,
            # CPU per change (with the bench's slow polling): 2 cores serve all of it.
            agent_cpu_ms_per_change=round(agent_cpu * 1000 / len(changes), 1),
            moto_cpu_ms_per_change=round(moto_cpu * 1000 / len(changes), 1),
            note="PutSecretValue + SNS publish until the last agent cached it; agents and "
            "moto share the machine's cores",
        )
    finally:
        stop_agents(agents)


def recovery(w: World, args: argparse.Namespace) -> None:
    """A change made while AWS is unreachable: time from AWS's recovery until it is served."""
    env = w.fanout_env()
    topic = env["CONFIG_AGENT_TOPIC_ARN"]
    agent = start_agent(env)
    try:
        _, conn = wait_healthy(agent, time.monotonic() + 20, "recovery agent")
        outage, failing = [], []
        for _ in range(args.outages):
            w.proxy.outage = "reset"  # Secrets Manager, SQS and SNS unreachable
            w.emulator.outage = "503"  # and the AppConfig data plane
            want = w.change_secret(topic)  # straight to moto: SNS delivers to the own queue
            time.sleep(args.outage_seconds)
            w.proxy.clear()
            w.emulator.clear()
            outage.append(
                seconds_until(
                    lambda v=want: secret_string(conn, w.secret_path) == v,
                    30,
                    "recovery after outage",
                )
                * 1000
            )
        for _ in range(args.outages):
            w.proxy.fail("GetSecretValue", status=503, code="ServiceUnavailable")
            want = w.change_secret(topic)
            time.sleep(3)  # received, fetch failed, message held
            w.proxy.clear()
            failing.append(
                seconds_until(
                    lambda v=want: secret_string(conn, w.secret_path) == v, 30, "recovery after 5xx"
                )
                * 1000
            )
        conn.close()
        emit(
            "agent_recovery_after_outage_ms",
            outage_s=args.outage_seconds,
            **summary(outage),
            goal_max=2000,
            note="change made during an outage of every AWS endpoint",
        )
        emit(
            "agent_recovery_after_secrets_manager_5xx_ms",
            **summary(failing),
            goal_max=2000,
            note="change made while GetSecretValue answered 503",
        )
    finally:
        stop_agents([agent])


def duplicate_flood(w: World, args: argparse.Namespace) -> None:
    """500 duplicate events, then an unrelated change: how long until it is served."""
    other = w.sm.create_secret(Name=f"bench/other-{uuid.uuid4().hex[:6]}", SecretString="other-0")
    env = w.fanout_env(f"{w.secret['Name']},{other['Name']}")
    env["CONFIG_AGENT_AWS_TIMEOUT_SECONDS"] = "60"  # the held fetch waits, it does not time out
    topic = env["CONFIG_AGENT_TOPIC_ARN"]
    agent = start_agent(env)
    try:
        _, conn = wait_healthy(agent, time.monotonic() + 20, "flood agent")
        body = w.event(w.secret)
        w.proxy.hold("GetSecretValue")  # the first fetch blocks: the flood queues up behind it
        for _ in range(args.duplicates // 10):
            w.sns.publish_batch(
                TopicArn=topic,
                PublishBatchRequestEntries=[{"Id": str(i), "Message": body} for i in range(10)],
            )
        w.sm.put_secret_value(SecretId=other["Name"], SecretString="other-1")
        w.sns.publish(TopicArn=topic, Message=w.event(other))
        base = (
            w.proxy.secret_fetches[w.secret["Name"]],
            w.proxy.count("ReceiveMessage"),
            w.proxy.upstream_seconds["ReceiveMessage"],
        )
        t0 = time.perf_counter()
        w.proxy.release("GetSecretValue")
        moto_s: list[float] = []

        def served() -> bool:
            # moto's receive time up to the moment the change is served (later receives,
            # long polls of an emptied queue, must not count).
            moto_s[:] = [w.proxy.upstream_seconds["ReceiveMessage"]]
            return secret_string(conn, f"/secretsmanager/get?secretId={other['Name']}") == "other-1"

        seconds_until(served, 120, "unrelated change behind the flood")
        served_ms = (time.perf_counter() - t0) * 1000
        moto_ms = (moto_s[0] - base[2]) * 1000
        conn.close()
        emit(
            "agent_duplicate_flood",
            duplicates=args.duplicates,
            unrelated_served_ms=round(served_ms),
            duplicate_fetches=w.proxy.secret_fetches[w.secret["Name"]] - base[0],
            receives=w.proxy.count("ReceiveMessage") - base[1],
            moto_receive_ms=round(moto_ms),
            served_minus_moto_receive_ms=round(served_ms - moto_ms),
            goal_unrelated_ms=1000,
            # served_minus_moto_receive_ms: the agent's own share (fetch, delete, its loop).
            note="one fetch per item per receive batch; moto's ReceiveMessage slows with "
            "queue depth (~0.5 s at 500), real SQS answers in tens of ms",
        )
    finally:
        stop_agents([agent])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--load",
        nargs=6,
        help=argparse.SUPPRESS,
        metavar=("MODE", "PORT", "PATH", "SECONDS", "CONNECTIONS", "RATE"),
    )
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=91.0,
        help="idle window; >= 2 baseline poll intervals to count real polls",
    )
    parser.add_argument("--fanout-agents", type=int, default=10)
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--outage-seconds", type=float, default=10.0)
    parser.add_argument("--duplicates", type=int, default=500)
    parser.add_argument(
        "--only",
        choices=("all", "http"),
        default="all",
        help="http: only the HTTP figures (cached reads, connections, flood)",
    )
    return parser.parse_args()


def run_load_client(load: list[str]) -> None:
    """The `--load` child: one client process of `_load`."""
    mode, port, path, seconds, connections, rate = load
    if mode == "paced":
        paced_client(int(port), path, float(seconds), int(connections), float(rate))
    else:
        load_client(int(port), path, float(seconds), int(connections))


def http_only(w: World, args: argparse.Namespace) -> None:
    """`--only http`: the HTTP figures alone (cached reads, 200 connections, header flood)."""
    queue = w.sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    agent = start_agent({**w.base_env, "CONFIG_AGENT_QUEUE_URL": queue})
    try:
        port, conn = wait_healthy(agent, time.monotonic() + 20, "agent")
        conn.close()
        cached_reads(w, args, agent.pid, port)
        header_flood(agent.pid, port)
    finally:
        stop_agents([agent])


def run_scenarios(args: argparse.Namespace) -> None:
    use_local_credentials("bench")
    load_before = os.getloadavg()
    world = World()
    try:
        if args.only == "http":
            http_only(world, args)
        else:
            change_to_served(world, args)
            fanout(world, args)
            recovery(world, args)
            duplicate_flood(world, args)
        # Latency tails depend on what else the cores run: say how busy they were.
        emit(
            "agent_bench_machine",
            cpus=os.cpu_count(),
            load_avg_1m_before=round(load_before[0], 2),
            load_avg_1m_after=round(os.getloadavg()[0], 2),
        )
    except TimedOut as timed_out:
        raise SystemExit(str(timed_out)) from None
    finally:
        world.close()


def main() -> int:
    args = parse_args()
    if args.load:
        run_load_client(args.load)
    else:
        run_scenarios(args)
    return 0


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
