"""In-memory cache of ready-to-send responses, and the item states behind /health.

Writers (the single worker thread) replace whole immutable entries; readers (HTTP threads)
only do dict lookups, which are atomic in CPython, so serving never waits for AWS or a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .events import secret_keys
from .settings import ProfileRef
from .sources import ConfigValue, SecretValue


@dataclass(frozen=True)
class Entry:
    """One servable item: body and content type prepared at refresh time."""

    body: bytes
    content_type: str
    version: str | None
    fetched_at: float


@dataclass
class ItemState:
    kind: str  # "secret" | "configuration"
    ident: str  # configured secret id or profile key: identifiers only, never values
    has_value: bool = False
    problem: str | None = None  # "missing", an AWS error code, or None when last fetch was ok
    refreshed_at: float | None = None


Selector = tuple[str | None, str | None]
"""(versionStage, versionId) of a secret version other than AWSCURRENT."""
MAX_SELECTED_PER_SECRET = 16  # other stages/versions kept per secret; the oldest goes first


class Cache:
    def __init__(self, secret_ids: Iterable[str], profiles: Iterable[ProfileRef]) -> None:
        self._lock = threading.Lock()  # serialises writers only
        self._secrets: dict[str, Entry] = {}  # configured id -> entry
        self._aliases: dict[str, str] = {}  # any accepted spelling -> configured id
        self._configs: dict[str, Entry] = {}  # profile key -> entry
        # Other stages/versions, fetched on first request and refreshed with the secret.
        self._selected: dict[str, dict[Selector, Entry]] = {}
        self._generations: dict[str, int] = {}  # bumped whenever a secret is refreshed
        self.states: dict[str, ItemState] = {}
        for sid in secret_ids:
            self._aliases[sid] = sid
            self.states["secret:" + sid] = ItemState("secret", sid)
        for ref in profiles:
            self.states["configuration:" + ref.key] = ItemState("configuration", ref.key)

    # --- reads (HTTP threads) ------------------------------------------------------------
    def secret(self, secret_id: str) -> tuple[str | None, Entry | None]:
        """(configured id or None if not served here, entry or None if not loaded yet)."""
        sid = self._aliases.get(secret_id)
        if sid is None:
            return None, None
        return sid, self._secrets.get(sid)

    def configuration(self, key: str) -> tuple[bool, Entry | None]:
        return ("configuration:" + key) in self.states, self._configs.get(key)

    def selected(self, secret_id: str, selector: Selector) -> Entry | None:
        return self._selected.get(secret_id, {}).get(selector)

    def selectors(self, secret_id: str) -> list[Selector]:
        return list(self._selected.get(secret_id, {}))

    def generation(self, secret_id: str) -> int:
        return self._generations.get(secret_id, 0)

    # --- writes (worker thread) ----------------------------------------------------------
    def put_secret(self, configured_id: str, value: SecretValue) -> None:
        entry = Entry(value.response_json(), "application/json", value.version_id, time.time())
        with self._lock:
            aliases = dict(self._aliases)
            for alias in (value.name, value.arn, _partial_arn(value.arn)):
                if alias:
                    aliases.setdefault(alias, configured_id)
            self._secrets[configured_id] = entry
            self._aliases = aliases
        self._mark("secret:" + configured_id, ok=True)

    def refreshing(self, secret_id: str) -> None:
        """A refresh of `secret_id` starts: on-demand fetches begun earlier must not store."""
        with self._lock:
            self._generations[secret_id] = self.generation(secret_id) + 1

    def put_selected(
        self, secret_id: str, selector: Selector, value: SecretValue, generation: int | None = None
    ) -> Entry:
        """Store another stage/version (unless `generation` shows a refresh started since)."""
        entry = Entry(value.response_json(), "application/json", value.version_id, time.time())
        with self._lock:
            if generation is not None and generation != self.generation(secret_id):
                return entry
            entries = dict(self._selected.get(secret_id, {}))
            entries.pop(selector, None)
            entries[selector] = entry
            while len(entries) > MAX_SELECTED_PER_SECRET:
                del entries[next(iter(entries))]
            self._selected = {**self._selected, secret_id: entries}
        return entry

    def drop_selected(self, secret_id: str, selector: Selector) -> None:
        with self._lock:
            entries = dict(self._selected.get(secret_id, {}))
            entries.pop(selector, None)
            self._selected = {**self._selected, secret_id: entries}

    def put_configuration(self, ref: ProfileRef, value: ConfigValue) -> None:
        entry = Entry(value.body, value.content_type, value.version_label, time.time())
        with self._lock:
            self._configs[ref.key] = entry
        self._mark("configuration:" + ref.key, ok=True)

    def touch(self, state_key: str) -> None:
        """A fetch succeeded but returned "unchanged"."""
        self._mark(state_key, ok=True)

    def fail(self, state_key: str, problem: str) -> None:
        self._mark(state_key, ok=False, problem=problem)

    def _mark(self, key: str, *, ok: bool, problem: str | None = None) -> None:
        state = self.states[key]
        if ok:
            state.has_value, state.problem, state.refreshed_at = True, None, time.time()
        else:
            state.problem = problem

    def secret_ids_matching(self, event_secret_id: str) -> list[str]:
        """Configured secrets an event's secretId (name, ARN or partial ARN) refers to."""
        wanted = secret_keys(event_secret_id)
        out = []
        for sid in (s.ident for s in self.states.values() if s.kind == "secret"):
            spellings = {sid} | {a for a, target in self._aliases.items() if target == sid}
            if any(wanted & secret_keys(spelling) for spelling in spellings):
                out.append(sid)
        return out


def _partial_arn(arn: str) -> str | None:
    """ARN without the 6-character random suffix, which callers may also use."""
    head, sep, tail = arn.rpartition("-")
    if arn.startswith("arn:") and sep and len(tail) == 6:
        return head
    return None
