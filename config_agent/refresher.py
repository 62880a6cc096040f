"""Refresh logic: which items an event touches, fetching them, and updating cache and files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from .aws import Aws, AwsError
from .backup import Backup
from .cache import Cache
from .events import Change, DeploymentStarted, SecretChanged
from .logs import log
from .output import OutputDir
from .settings import ProfileRef, Settings
from .sources import ConfigFetcher, ConfigValue, fetch_secret
from .versions import Versions

LOG = logging.getLogger("config_agent.refresh")


@dataclass(frozen=True)
class Targets:
    secrets: tuple[str, ...] = ()
    profiles: tuple[ProfileRef, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.secrets or self.profiles)

    def keys(self) -> list[str]:
        """The cache state keys of these items."""
        return ["secret:" + s for s in self.secrets] + [
            "configuration:" + p.key for p in self.profiles
        ]

    @staticmethod
    def union(many: Iterable[Targets]) -> Targets:
        """Every item once, in first-seen order: one fetch per item for a whole batch."""
        secrets: dict[str, None] = {}
        profiles: dict[ProfileRef, None] = {}
        for targets in many:
            secrets.update(dict.fromkeys(targets.secrets))
            profiles.update(dict.fromkeys(targets.profiles))
        return Targets(tuple(secrets), tuple(profiles))


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)  # state keys whose value changed
    failed: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    """The failed keys whose error was retryable (AWS unreachable, throttling, 5xx)."""

    @property
    def ok(self) -> bool:
        """Every target fetched (changed or unchanged)."""
        return not self.failed


class Refresher:
    """Owned by the single worker thread: no locking needed around sessions or files."""

    def __init__(self, settings: Settings, aws: Aws, cache: Cache) -> None:
        self.settings = settings
        self.aws = aws
        self.cache = cache
        self.configs = ConfigFetcher(aws)
        self.versions = Versions(aws, cache)
        self.output = OutputDir(settings.output_dir) if settings.output_dir else None
        self.backup = (
            Backup(settings.backup_dir, settings.backup_secrets) if settings.backup_dir else None
        )
        self._config_values: dict[str, ConfigValue] = {}
        self._secret_versions: dict[str, str] = {}

    def restore(self) -> int:
        """Serve the backed-up values until AWS answers; returns how many were restored."""
        if self.backup is None:
            return 0
        restored = 0
        for sid in self.settings.secret_ids:
            value = self.backup.load_secret(sid)
            if value is not None:
                self.cache.put_secret(sid, value)
                self.cache.fail("secret:" + sid, "from-backup")  # degraded until fetched
                self._secret_versions[sid] = value.version_id
                restored += 1
        for ref in self.settings.profiles:
            config = self.backup.load_configuration(ref)
            if config is not None:
                self.cache.put_configuration(ref, config)
                self.cache.fail("configuration:" + ref.key, "from-backup")
                self._config_values[ref.key] = config
                restored += 1
        if restored:
            log(
                LOG,
                logging.INFO,
                "serving values from the backup until AWS answers",
                restored=restored,
            )
        return restored

    def all_targets(self) -> Targets:
        return Targets(self.settings.secret_ids, self.settings.profiles)

    def missing_targets(self) -> Targets:
        """Items with no value yet (startup failed, or the secret/profile does not exist)."""
        secrets = tuple(
            s for s in self.settings.secret_ids if not self.cache.states["secret:" + s].has_value
        )
        profiles = tuple(
            p
            for p in self.settings.profiles
            if not self.cache.states["configuration:" + p.key].has_value
        )
        return Targets(secrets, profiles)

    def targets_of(self, keys: Iterable[str]) -> Targets:
        """The configured items with these state keys."""
        wanted = set(keys)
        return Targets(
            tuple(s for s in self.settings.secret_ids if "secret:" + s in wanted),
            tuple(p for p in self.settings.profiles if "configuration:" + p.key in wanted),
        )

    def targets_for(self, change: Change) -> Targets:
        if isinstance(change, SecretChanged):
            return Targets(secrets=tuple(self.cache.secret_ids_matching(change.secret_id)))
        return Targets(profiles=self.profiles_for(change))

    def profiles_for(self, change: DeploymentStarted) -> tuple[ProfileRef, ...]:
        """Exact id match narrows the refresh; otherwise refresh every configured profile.

        Events carry ids, the agent may be configured with names, and names cannot be mapped
        to ids without extra control-plane permissions. The queue is per service, so a
        deployment event that reaches it concerns this service's profiles.
        """
        exact = tuple(
            p
            for p in self.settings.profiles
            if (p.application, p.environment, p.profile)
            == (change.application_id, change.environment_id, change.profile_id)
        )
        return exact or self.settings.profiles

    def refresh(self, targets: Targets, reason: str) -> Outcome:
        outcome = Outcome()
        for sid in targets.secrets:
            self._refresh_secret(sid, reason, outcome)
        for ref in targets.profiles:
            self._refresh_profile(ref, reason, outcome)
        return outcome

    def _failed(self, key: str, ident: str, err: AwsError, reason: str, outcome: Outcome) -> None:
        outcome.failed.append(key)
        if err.retryable:
            outcome.unreachable.append(key)
        problem = "missing" if err.missing else err.code
        state = self.cache.states[key]
        repeated = state.problem == problem  # retried about once a second during an outage
        self.cache.fail(key, problem)
        # Missing items and startup failures are errors; a failed refresh of an item we still
        # serve (stale) is a warning: the app keeps working.
        level = logging.WARNING if state.has_value else logging.ERROR
        level = logging.DEBUG if repeated else level
        msg = "does not exist (yet); will retry" if err.missing else "refresh failed"
        log(
            LOG,
            level,
            f"{state.kind} {msg}",
            item=ident,
            code=err.code,
            operation=err.operation,
            reason=reason,
            serving_stale=state.has_value,
        )

    def _refresh_secret(self, sid: str, reason: str, outcome: Outcome) -> None:
        key = "secret:" + sid
        self.cache.refreshing(sid)
        try:
            value = fetch_secret(self.aws, sid)
        except AwsError as err:
            self._failed(key, sid, err, reason, outcome)
            return
        changed = self._secret_versions.get(sid) != value.version_id
        try:
            if self.output:
                self.output.write(self.output.secret_path(value.name), value.file_bytes())
        except OSError as exc:
            # Keep serving over HTTP; the message stays queued so the write is retried.
            outcome.failed.append(key)
            log(
                LOG, logging.ERROR, "writing secret file failed", item=sid, error=type(exc).__name__
            )
        self.cache.put_secret(sid, value)
        self._secret_versions[sid] = value.version_id
        if changed:
            outcome.changed.append(key)
            if self.backup:
                self.backup.save_secret(sid, value)
        log(
            LOG,
            logging.INFO,
            "secret refreshed",
            item=sid,
            version_id=value.version_id,
            changed=changed,
            reason=reason,
        )
        self.versions.refresh(sid)

    def _refresh_profile(self, ref: ProfileRef, reason: str, outcome: Outcome) -> None:
        key = "configuration:" + ref.key
        current = self._config_values.get(ref.key)
        try:
            value = self.configs.fetch(ref, current)
        except AwsError as err:
            self._failed(key, ref.key, err, reason, outcome)
            return
        changed = value is not None and value != current
        if value is None:
            self.cache.touch(key)
        else:
            try:
                if self.output:
                    self.output.write(self.output.configuration_path(ref.profile), value.body)
            except OSError as exc:
                outcome.failed.append(key)
                log(
                    LOG,
                    logging.ERROR,
                    "writing configuration file failed",
                    item=ref.key,
                    error=type(exc).__name__,
                )
            self.cache.put_configuration(ref, value)
            self._config_values[ref.key] = value
            if self.backup and changed:
                self.backup.save_configuration(ref, value)
        if changed:
            outcome.changed.append(key)
        log(
            LOG,
            logging.INFO,
            "configuration refreshed",
            item=ref.key,
            changed=changed,
            version_label=(value.version_label if value else None),
            reason=reason,
        )
