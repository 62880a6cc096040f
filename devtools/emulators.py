"""Loopback AWS emulators in front of / next to moto, for the tests, the bench and the demo.

* `FaultProxy`: forwards AWS JSON-protocol calls (SQS, Secrets Manager) to moto, counts them
  per operation and can inject throttling, 5xx or a full outage.
* `AppConfigEmulator`: the AppConfig data plane (StartConfigurationSession,
  GetLatestConfiguration) that moto 5.2 lacks, plus GetDeployment, serving hosted
  configuration versions read from moto's AppConfig state. Deployments can be gradual.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Threaded loopback server for the fakes; quiet when a client hangs up."""

    daemon_threads = True
    allow_reuse_address = True
    dropped = 0  # connections the client closed before its answer was written

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is routine here (an agent abandons its long poll on shutdown, a
        # test ends): count it instead of printing socketserver's traceback into CI output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.dropped += 1
            return
        super().handle_error(request, client_address)


class AwsHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with AWS-shaped JSON error answers; logs nothing."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _aws_error(self, status: int, code: str) -> None:
        self._reply(
            status,
            json.dumps({"__type": code, "message": code}).encode(),
            {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code},
        )

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


@dataclass
class Fault:
    """An injected error answer, for `remaining` more calls (None: until cleared)."""

    status: int = 503
    code: str = "ServiceUnavailable"
    remaining: int | None = None  # None: until cleared


class _Faults:
    """Shared fault-injection state: per-operation faults and a global outage switch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.faults: dict[str, Fault] = {}
        self.outage: str | None = None  # None | "503" | "reset"
        self.gates: dict[str, threading.Event] = {}
        self.waiting: Counter[str] = Counter()  # requests held at a gate right now

    def hold(self, operation: str) -> None:
        """Requests for `operation` wait (up to 30 s) until `release`: a slow AWS, on demand."""
        with self.lock:
            self.gates.setdefault(operation, threading.Event())

    def release(self, operation: str) -> None:
        with self.lock:
            gate = self.gates.pop(operation, None)
        if gate is not None:
            gate.set()

    def pass_gate(self, operation: str) -> None:
        with self.lock:
            gate = self.gates.get(operation)
            if gate is None:
                return
            self.waiting[operation] += 1
        try:
            gate.wait(30)
        finally:
            with self.lock:
                self.waiting[operation] -= 1

    def fail(
        self,
        operation: str,
        status: int = 503,
        code: str = "ServiceUnavailable",
        times: int | None = None,
    ) -> None:
        with self.lock:
            self.faults[operation] = Fault(status, code, times)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.outage = None
            gates, self.gates = list(self.gates.values()), {}
        for gate in gates:
            gate.set()

    def count(self, operation: str) -> int:
        with self.lock:
            return self.counts[operation]

    def check(self, operation: str) -> Fault | str | None:
        with self.lock:
            self.counts[operation] += 1
            if self.outage:
                return self.outage
            fault = self.faults.get(operation)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self.faults[operation]
            return fault


def _apply(handler: AwsHandler, verdict: Fault | str | None) -> bool:
    """Act on a fault verdict; True if the request was answered (or dropped) already."""
    if verdict is None:
        return False
    if verdict == "reset":
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(2)
        return True
    if verdict == "503":
        handler._aws_error(503, "ServiceUnavailable")
        return True
    assert isinstance(verdict, Fault)
    handler._aws_error(verdict.status, verdict.code)
    return True


class LoopbackService(_Faults):
    """A fault-injectable HTTP server on 127.0.0.1 with an ephemeral port."""

    def _serve(self, handler: type[AwsHandler]) -> None:
        self.server = LoopbackHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultProxy(LoopbackService):
    """Reverse proxy to moto for JSON-protocol (X-Amz-Target) and query-protocol services."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__()
        self.secret_fetches: Counter[str] = Counter()  # GetSecretValue calls per SecretId
        # The time moto took, per operation.
        self.upstream_seconds: defaultdict[str, float] = defaultdict(float)
        proxy = self

        class Handler(AwsHandler):
            def do_POST(self) -> None:
                body = self._body()
                target = self.headers.get("X-Amz-Target", "")
                operation = target.split(".", 1)[-1] if target else "?"
                if not target:  # query protocol (SNS): Action=<operation> in the form body
                    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
                    operation = action[0] if action else "?"
                if operation == "GetSecretValue":
                    with proxy.lock:
                        proxy.secret_fetches[json.loads(body).get("SecretId", "?")] += 1
                if _apply(self, proxy.check(operation)):
                    return
                proxy.pass_gate(operation)
                conn = http.client.HTTPConnection(*upstream, timeout=60)
                started = time.perf_counter()
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Host"] = f"{upstream[0]}:{upstream[1]}"
                    conn.request("POST", self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
                finally:
                    conn.close()
                    with proxy.lock:
                        proxy.upstream_seconds[operation] += time.perf_counter() - started
                self._reply(resp.status, data, out)

        self._serve(Handler)


FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"


def evaluated_flags(stored: bytes) -> bytes:
    """What the data plane returns for a feature-flag profile: each flag's `enabled` and
    attribute values, keyed by flag (the stored definitions and metadata are not sent)."""
    doc = json.loads(stored)
    values = doc.get("values", {})
    out = {
        key: {
            "enabled": False,
            **{k: v for k, v in values.get(key, {}).items() if not k.startswith("_")},
        }
        for key in doc.get("flags", {})
    }
    return json.dumps(out).encode()


@dataclass
class _Version:
    number: int
    content: bytes
    content_type: str
    label: str | None


@dataclass
class _Deployment:
    number: int
    old: _Version | None
    new: _Version
    started: float
    visible_after: float  # seconds until this client sees the new content (gradual)
    complete_after: float  # seconds until GetDeployment reports COMPLETE

    def current(self, now: float) -> _Version | None:
        return self.new if now - self.started >= self.visible_after else self.old

    def state(self, now: float) -> str:
        return "COMPLETE" if now - self.started >= self.complete_after else "DEPLOYING"


@dataclass
class _Session:
    key: tuple[str, str, str]
    min_interval: float
    seen: int | None = None
    last_poll: float = 0.0
    polled: bool = False


class AppConfigEmulator(LoopbackService):
    """AppConfig data plane + GetDeployment on loopback, backed by moto's hosted versions."""

    def __init__(self, moto_appconfig: Any, enforce_poll_interval: bool = True) -> None:
        super().__init__()
        self._moto = moto_appconfig  # a boto3 "appconfig" client pointed at moto
        self.enforce_poll_interval = enforce_poll_interval
        self._deployments: dict[tuple[str, str, str], list[_Deployment]] = {}
        self._by_app_env: dict[tuple[str, str, int], _Deployment] = {}
        self._sessions: dict[str, _Session] = {}
        self._numbers = itertools.count(1)
        emu = self

        class Handler(AwsHandler):
            def do_POST(self) -> None:
                body = self._body()
                if urlsplit(self.path).path != "/configurationsessions":
                    self._aws_error(404, "ResourceNotFoundException")
                    return
                if _apply(self, emu.check("StartConfigurationSession")):
                    return
                emu._start(self, json.loads(body or b"{}"))

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/configuration":
                    if _apply(self, emu.check("GetLatestConfiguration")):
                        return
                    token = (parse_qs(parts.query).get("configuration_token") or [""])[0]
                    emu._poll(self, token)
                    return
                segs = [unquote(s) for s in parts.path.split("/")]
                if len(segs) == 7 and segs[1] == "applications" and segs[5] == "deployments":
                    if _apply(self, emu.check("GetDeployment")):
                        return
                    emu._get_deployment(self, segs[2], segs[4], int(segs[6]))
                    return
                self._aws_error(404, "ResourceNotFoundException")

        self._serve(Handler)

    # --- test API -----------------------------------------------------------------------------
    def deploy(
        self,
        application_id: str,
        environment_id: str,
        profile_id: str,
        version_number: int,
        *,
        visible_after: float = 0.0,
        complete_after: float = 0.0,
    ) -> int:
        """Deploy a moto hosted configuration version; returns the deployment number."""
        resp = self._moto.get_hosted_configuration_version(
            ApplicationId=application_id,
            ConfigurationProfileId=profile_id,
            VersionNumber=version_number,
        )
        content = resp["Content"].read()
        profile = self._moto.get_configuration_profile(
            ApplicationId=application_id, ConfigurationProfileId=profile_id
        )
        if profile.get("Type") == FEATURE_FLAGS:
            content = evaluated_flags(content)
        version = _Version(
            version_number,
            content,
            resp.get("ContentType") or "application/json",
            resp.get("VersionLabel"),
        )
        key = (application_id, environment_id, profile_id)
        with self.lock:
            history = self._deployments.setdefault(key, [])
            old = history[-1].current(time.monotonic()) if history else None
            number = next(self._numbers)
            dep = _Deployment(number, old, version, time.monotonic(), visible_after, complete_after)
            history.append(dep)
            self._by_app_env[(application_id, environment_id, number)] = dep
        return number

    def reveal(self, application_id: str, environment_id: str, number: int) -> None:
        """From now on this client sees deployment `number`'s content (ends a gradual wait)."""
        with self.lock:
            dep = self._by_app_env[(application_id, environment_id, number)]
            dep.visible_after = 0.0

    # --- handlers -----------------------------------------------------------------------------
    def _start(self, handler: AwsHandler, req: dict[str, Any]) -> None:
        key = (
            req.get("ApplicationIdentifier", ""),
            req.get("EnvironmentIdentifier", ""),
            req.get("ConfigurationProfileIdentifier", ""),
        )
        with self.lock:
            if key not in self._deployments:
                handler._aws_error(404, "ResourceNotFoundException")
                return
            token = secrets.token_urlsafe(16)
            self._sessions[token] = _Session(
                key, float(req.get("RequiredMinimumPollIntervalInSeconds") or 60)
            )
        handler._reply(
            201,
            json.dumps({"InitialConfigurationToken": token}).encode(),
            {"Content-Type": "application/json"},
        )

    def _poll(self, handler: AwsHandler, token: str) -> None:
        now = time.monotonic()
        with self.lock:
            session = self._sessions.pop(token, None)  # tokens are single use
            if session is None:
                handler._aws_error(400, "BadRequestException")
                return
            if (
                self.enforce_poll_interval
                and session.polled
                and now - session.last_poll < session.min_interval
            ):
                handler._aws_error(400, "BadRequestException")
                return
            version = self._deployments[session.key][-1].current(now)
            next_token = secrets.token_urlsafe(16)
            changed = version is not None and version.number != session.seen
            self._sessions[next_token] = _Session(
                session.key, session.min_interval, version.number if version else None, now, True
            )
        headers = {
            "Next-Poll-Configuration-Token": next_token,
            "Next-Poll-Interval-In-Seconds": str(int(session.min_interval)),
        }
        if changed and version is not None:
            headers["Content-Type"] = version.content_type
            if version.label:
                headers["Version-Label"] = version.label
            handler._reply(200, version.content, headers)
        else:
            handler._reply(200, b"", headers)

    def _get_deployment(self, handler: AwsHandler, app: str, env: str, number: int) -> None:
        with self.lock:
            dep = self._by_app_env.get((app, env, number))
        if dep is None:
            handler._aws_error(404, "ResourceNotFoundException")
            return
        doc = {
            "ApplicationId": app,
            "EnvironmentId": env,
            "DeploymentNumber": number,
            "State": dep.state(time.monotonic()),
        }
        handler._reply(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
