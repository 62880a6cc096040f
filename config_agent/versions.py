"""Secret stages and versions other than AWSCURRENT (`versionStage`, `versionId`).

Fetched on the first request for them (the one case where an HTTP request waits for AWS), then
served from the cache and refreshed whenever their secret is refreshed: a change event, such as
a rotation moving AWSPENDING/AWSPREVIOUS, updates them along with AWSCURRENT.
"""

from __future__ import annotations

import logging
import threading

from .aws import Aws, AwsError
from .cache import Cache, Entry, Selector
from .logs import log
from .sources import fetch_secret

LOG = logging.getLogger("config_agent.versions")


class Versions:
    def __init__(self, aws: Aws, cache: Cache) -> None:
        self.aws = aws
        self.cache = cache
        # One first fetch at a time: rare, and concurrent requests for one version share it.
        self._lock = threading.Lock()

    def get(self, secret_id: str, stage: str | None, version_id: str | None) -> Entry:
        """HTTP threads: the cached entry, or fetch it now. Raises AwsError."""
        selector: Selector = (stage, version_id)
        entry = self.cache.selected(secret_id, selector)
        if entry is not None:
            return entry
        with self._lock:
            entry = self.cache.selected(secret_id, selector)
            if entry is not None:
                return entry
            generation = self.cache.generation(secret_id)
            # Bounded wait; housekeeping for health: a client's typo must not mark AWS down.
            value = fetch_secret(self.aws, secret_id, stage, version_id, retries=1, health=False)
            return self.cache.put_selected(secret_id, selector, value, generation)

    def refresh(self, secret_id: str) -> None:
        """Worker thread, after the secret itself was refreshed: every cached stage/version."""
        for selector in self.cache.selectors(secret_id):
            try:
                value = fetch_secret(self.aws, secret_id, *selector)
            except AwsError as err:
                if not err.retryable:  # e.g. the version was deleted: stop serving it
                    self.cache.drop_selected(secret_id, selector)
                log(
                    LOG,
                    logging.WARNING,
                    "refreshing a secret version failed",
                    item=secret_id,
                    stage=selector[0],
                    version_id=selector[1],
                    code=err.code,
                    serving_stale=err.retryable,
                )
                continue
            self.cache.put_selected(secret_id, selector, value)
