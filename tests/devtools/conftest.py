"""A local AWS of this directory's own, with fake credentials only while its tests run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.local_aws import LocalAws, local_aws_environ


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with local_aws_environ() as local:
        yield local


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "local_aws" in request.fixturenames:
        local: LocalAws = request.getfixturevalue("local_aws")
        assert local.proxy is not None
        local.proxy.clear()
        local.emulator.clear()
