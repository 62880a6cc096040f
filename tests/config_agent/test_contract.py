"""One contract between the pipeline and the agent (config_agent/contract.py).

* The agent package imports no cdktf/constructs/jsii, and the contract nothing beyond the stdlib,
  so both sides can import it.
* Every event the synthesized rules match (a sample for every source and eventName of every
  rule of every env) matches its rule's pattern, and, published to an SNS topic with the agent
  in fan-out mode (the mode the stacks deploy), makes the agent serve the new value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config_agent import contract
from devtools import events as ev
from devtools.wait import wait_for
from tests.config_agent.conftest import get, secret_json
from tests.event_pattern import matches

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = "/applications/{}/environments/{}/configurations/{}"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_agent_package_imports_no_cdktf():
    result = _python(
        "import pkgutil, importlib, sys, config_agent\n"
        "for m in pkgutil.iter_modules(config_agent.__path__):\n"
        "    importlib.import_module('config_agent.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('cdktf', 'constructs', 'jsii')))\n"
        "assert not bad, bad\n"
    )
    assert result.returncode == 0, result.stderr


def test_contract_imports_only_the_stdlib():
    result = _python(
        "import sys; before = set(sys.modules)\n"
        "import config_agent.contract\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "extra = sorted(new - set(sys.stdlib_module_names) - {'config_agent'})\n"
        "assert not extra, extra\n"
    )
    assert result.returncode == 0, result.stderr


# --- every event the synthesized rules match, end to end ---------------------------------------


@dataclass
class Sample:
    """One event a rule matches, and how to make (and see) the change it announces."""

    rule: str
    event: dict[str, Any]
    change: Callable[[], Callable[[], bool]]  # makes the change; returns "is it served?"
    resolved: dict[str, str] = field(default_factory=dict)
    """Terraform references in the rule -> the moto ids they stand for when delivered."""

    def body(self) -> str:
        text = ev.as_message_body(self.event)
        for ref, real in self.resolved.items():
            text = text.replace(ref, real)
        return text


def _rules(synth) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rules that feed agents: those targeting a config-event topic (not, e.g., the reaper's
    ECS task-state and schedule rules, which invoke a function)."""
    for name in synth.stack_names:
        stack = synth.stack(name)
        to_topics = {
            t["rule"]
            for t in stack.resources("aws_cloudwatch_event_target").values()
            if str(t["arn"]).startswith("${aws_sns_topic.")
        }
        for logical, rule in stack.resources("aws_cloudwatch_event_rule").items():
            if stack.ref("aws_cloudwatch_event_rule", logical, "name") in to_topics:
                yield rule["name"], json.loads(rule["event_pattern"])


def _only(values: list[Any]) -> Any:
    assert len(values) == 1, values
    return values[0]


class _World:
    """moto resources behind the samples, and one fan-out agent serving all of them."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.secrets: list[str] = []
        self.app = aws.appconfig.create_application(Name=f"ct-{uuid.uuid4().hex[:6]}")["Id"]
        self.env = "ctenv" + uuid.uuid4().hex[:6]
        self.profiles: list[str] = []
        self.port = 0
        self._counter = 0

    def _next(self) -> str:
        self._counter += 1
        return f"v{self._counter}-{uuid.uuid4().hex[:6]}"

    def secret(self, name_prefix: str) -> str:
        name = f"{name_prefix}ct-{uuid.uuid4().hex[:8]}"
        self.aws.sm.create_secret(Name=name, SecretString="initial")
        self.secrets.append(name)
        return name

    def profile(self) -> str:
        prof = self.aws.appconfig.create_configuration_profile(
            ApplicationId=self.app, Name=f"p{len(self.profiles)}", LocationUri="hosted"
        )["Id"]
        self.aws.hosted_version(self.app, prof, b'{"v": 0}')
        self.aws.emulator.deploy(self.app, self.env, prof, 1)
        self.profiles.append(prof)
        return prof

    def change_secret(self, name: str, event_name: str) -> Callable[[], bool]:
        want = self._next()
        if event_name == "UpdateSecretVersionStage":
            # A staged version promoted to AWSCURRENT, as a rotation's last step does.
            stages = self.aws.sm.describe_secret(SecretId=name)["VersionIdsToStages"]
            current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
            staged = self.aws.sm.put_secret_value(
                SecretId=name, SecretString=want, VersionStages=["AWSPENDING"]
            )["VersionId"]
            self.aws.sm.update_secret_version_stage(
                SecretId=name,
                VersionStage="AWSCURRENT",
                MoveToVersionId=staged,
                RemoveFromVersionId=current,
            )
        else:
            self.aws.sm.put_secret_value(SecretId=name, SecretString=want)
        return lambda: (secret_json(self.port, name) or {}).get("SecretString") == want

    def change_profile(self, prof: str) -> Callable[[], bool]:
        body = json.dumps({"v": self._next()}).encode()
        self.aws.emulator.deploy(
            self.app, self.env, prof, self.aws.hosted_version(self.app, prof, body)
        )
        path = CONFIG_PATH.format(self.app, self.env, prof)
        return lambda: get(self.port, path)[2] == body


def _secret_samples(world: _World, rule: str, pattern: dict[str, Any]) -> list[Sample]:
    detail = pattern["detail"]
    assert detail["eventSource"] == [contract.SECRETS_EVENT_SOURCE]
    # {"$or": [{"requestParameters": {"secretId": [prefix...]}}, {"additionalEventData": ...}]}
    prefixes = {
        m["prefix"]
        for alt in detail["$or"]
        for where in alt.values()
        for matchers in where.values()
        for m in matchers
    }
    name_prefix = _only([p for p in prefixes if not p.startswith("arn:")])
    arn_prefix = _only([p for p in prefixes if p.startswith("arn:")])
    region, account = arn_prefix.split(":")[3], _only(pattern["account"])
    name = world.secret(name_prefix)
    arn = arn_prefix + name[len(name_prefix) :] + "-AbCdEf"  # the ARN Secrets Manager gives it
    out = []
    for event_name in detail["eventName"]:
        assert event_name in contract.SECRET_CHANGE_EVENTS, f"{rule}: {event_name} unknown"
        ids = (name, arn) if event_name in contract.SECRET_API_CALLS else (arn,)
        for secret_id in ids:
            event = ev.secret_change(event_name, secret_id, region=region, account=account)
            out.append(Sample(rule, event, lambda n=name, e=event_name: world.change_secret(n, e)))
    return out


def _deployment_samples(world: _World, rule: str, pattern: dict[str, Any]) -> list[Sample]:
    detail = pattern["detail"]
    assert detail["eventSource"] == [contract.APPCONFIG_EVENT_SOURCE]
    params = {k: _only(v) for k, v in detail["requestParameters"].items()}
    prof = world.profile()
    # The rule names Terraform references (spelled alike in every env's stack); at apply they
    # resolve to real ids, which moto's application/environment/profile stand in for.
    resolved = {
        params["applicationId"]: world.app,
        params["environmentId"]: world.env,
        params["configurationProfileId"]: prof,
    }
    out = []
    for event_name in detail["eventName"]:
        assert event_name in contract.DEPLOYMENT_EVENTS, f"{rule}: {event_name} unknown"
        event = ev.appconfig_start_deployment(
            params["applicationId"],
            params["environmentId"],
            params["configurationProfileId"],
            account=_only(pattern["account"]),
        )
        out.append(Sample(rule, event, lambda p=prof: world.change_profile(p), resolved))
    return out


def test_every_event_the_synthesized_rules_match_is_acted_on_by_the_agent(synth, aws, make_agent):
    world = _World(aws)
    samples: list[Sample] = []
    sources = set()
    patterns = dict(_rules(synth))
    for rule, pattern in patterns.items():
        source = _only(pattern["source"])
        sources.add(source)
        if source == contract.SECRETS_SOURCE:
            samples += _secret_samples(world, rule, pattern)
        else:
            assert source == contract.APPCONFIG_SOURCE, f"{rule}: unknown source {source}"
            samples += _deployment_samples(world, rule, pattern)
    assert sources == {contract.SECRETS_SOURCE, contract.APPCONFIG_SOURCE}
    names = {e["detail"]["eventName"] for e in (s.event for s in samples)}
    assert names == set(contract.SECRET_CHANGE_EVENTS) | set(contract.DEPLOYMENT_EVENTS)
    for sample in samples:
        assert matches(patterns[sample.rule], sample.event), (sample.rule, sample.event)

    topic = aws.topic()
    agent = make_agent(
        topic=topic,
        CONFIG_AGENT_SECRET_IDS=",".join(world.secrets),
        CONFIG_AGENT_APPCONFIG_APPLICATION=world.app,
        CONFIG_AGENT_APPCONFIG_ENVIRONMENT=world.env,
        CONFIG_AGENT_APPCONFIG_PROFILE=",".join(world.profiles),
    )
    world.port = agent.port
    # Stage moves last: moto 5.2's PutSecretValue does not take AWSCURRENT off a version that
    # UpdateSecretVersionStage promoted (two versions would carry it), real AWS does.
    promotions = [
        s for s in samples if s.event["detail"]["eventName"] == "UpdateSecretVersionStage"
    ]
    for sample in [s for s in samples if s not in promotions] + promotions:
        served = sample.change()
        aws.sns.publish(TopicArn=topic.arn, Message=sample.body())
        wait_for(served, what=f"{sample.rule}: {sample.event['detail']['eventName']} served")
    # Every message was acted on and deleted; none went to the DLQ.
    wait_for(lambda: aws.queue_counts(agent.worker.queue_url) == (0, 0), what="queue drained")
    assert aws.queue_counts(topic.dlq_url) == (0, 0)
