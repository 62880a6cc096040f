"""AppConfig data-plane sessions (sources.ConfigFetcher) on a clock the test moves: a session is
polled again once its interval has passed, and replaced when AppConfig refuses its token.

Each test runs its own AppConfig emulator without the real-time poll-interval check (the
fetcher's clock is the test's), backed by the session's moto."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from config_agent import sources
from config_agent.aws import Aws, AwsError
from config_agent.settings import ProfileRef, Settings
from config_agent.sources import ConfigFetcher, ConfigValue
from devtools.emulators import AppConfigEmulator
from devtools.local_aws import LocalAws
from tests.config_agent.conftest import agent_env


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def emulator(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppConfigEmulator]:
    emu = AppConfigEmulator(aws.emulator._moto, enforce_poll_interval=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_APPCONFIGDATA", emu.url)
    yield emu
    emu.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(sources, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@dataclass(frozen=True)
class _Started:
    """A profile with content `mode=a`, a fetcher, and what its first fetch returned."""

    ref: ProfileRef
    fetcher: ConfigFetcher
    first: ConfigValue | None


@pytest.fixture
def started(aws: LocalAws, emulator: AppConfigEmulator, clock: _Clock) -> _Started:
    app, env, prof = aws.profile(b"mode=a", "text/plain")
    emulator.deploy(app, env, prof, 1)
    settings = Settings.from_env(
        agent_env("http://127.0.0.1:1/q", CONFIG_AGENT_SECRET_IDS="x", CONFIG_AGENT_MAX_RETRIES="0")
    )
    ref = ProfileRef(app, env, prof)
    fetcher = ConfigFetcher(Aws(settings, threading.Event()))
    return _Started(ref, fetcher, fetcher.fetch(ref, None))


def test_a_session_is_polled_again_after_its_interval_and_says_unchanged(
    aws: LocalAws, emulator: AppConfigEmulator, clock: _Clock, started: _Started
) -> None:
    ref, fetcher, first = started.ref, started.fetcher, started.first
    assert first == ConfigValue(b"mode=a", "text/plain", "v1")
    clock.now += 16  # past the 15 s minimum poll interval
    assert fetcher.fetch(ref, first) is None  # unchanged: nothing to store or write
    version = aws.hosted_version(ref.application, ref.profile, b"mode=b", "text/plain", "v2")
    emulator.deploy(ref.application, ref.environment, ref.profile, version)
    clock.now += 16
    assert fetcher.fetch(ref, first) == ConfigValue(b"mode=b", "text/plain", "v2")
    assert emulator.count("StartConfigurationSession") == 1  # one session throughout


def test_a_poll_sooner_than_the_interval_starts_a_new_session(
    emulator: AppConfigEmulator, clock: _Clock, started: _Started
) -> None:
    ref, fetcher, first = started.ref, started.fetcher, started.first
    clock.now += 1
    # A new session answers with the full content, even though it is unchanged.
    assert fetcher.fetch(ref, first) == first
    assert emulator.count("StartConfigurationSession") == 2


def test_a_refused_session_token_is_replaced_and_the_full_content_returned(
    emulator: AppConfigEmulator, clock: _Clock, started: _Started
) -> None:
    ref, fetcher, first = started.ref, started.fetcher, started.first
    clock.now += 23 * 3600 - 1  # not yet replaced for age; AppConfig has expired the token
    emulator.fail("GetLatestConfiguration", status=400, code="BadRequestException", times=1)
    assert fetcher.fetch(ref, first) == first
    assert emulator.count("StartConfigurationSession") == 2


def test_other_errors_on_a_running_session_are_raised(
    emulator: AppConfigEmulator, clock: _Clock, started: _Started
) -> None:
    ref, fetcher, first = started.ref, started.fetcher, started.first
    clock.now += 16
    emulator.fail("GetLatestConfiguration", status=400, code="AccessDeniedException")
    with pytest.raises(AwsError) as info:
        fetcher.fetch(ref, first)
    assert info.value.code == "AccessDeniedException" and not info.value.retryable
    assert emulator.count("StartConfigurationSession") == 1  # no new session for a refusal


def test_a_session_older_than_23_hours_is_replaced(
    emulator: AppConfigEmulator, clock: _Clock, started: _Started
) -> None:
    ref, fetcher, first = started.ref, started.fetcher, started.first
    clock.now += 23 * 3600 + 1
    assert fetcher.fetch(ref, first) == first
    assert emulator.count("StartConfigurationSession") == 2
