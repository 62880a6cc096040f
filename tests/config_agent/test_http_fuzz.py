"""Fuzz the request path: for any byte stream, the agent answers at most as many requests as a
strict RFC 9112 parser frames (plus one refusal), and nothing after a refusal.

The reference framer below is deliberately simple and strict (no leniency at all); the agent may
refuse more than it (Host rules, bodies), never serve more. Deterministic (derandomized, no
example database) and bounded, so it runs in seconds and cannot flake in CI.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.config_agent.test_http_strict import _half_closed

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") [\x21-\x7e]+ HTTP/1\.[01]")
_VALUE = rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"
_FIELD = re.compile(rb"(" + _TOKEN + rb"):[ \t]*" + _VALUE + rb"[ \t]*")


def strict_frames(stream: bytes) -> int:
    """Complete requests a strict parser frames before it must stop (RFC 9112 sections 2-6:
    CRLF lines, token names, no obs-fold, one all-digit Content-Length, no chunked body)."""
    count = pos = 0
    while True:
        while stream.startswith(b"\r\n", pos):  # section 2.2: empty lines before a request
            pos += 2
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return count
        lines = stream[pos:end].split(b"\r\n")
        if not _REQUEST_LINE.fullmatch(lines[0]):
            return count
        fields = [_FIELD.fullmatch(line) for line in lines[1:]]
        if not all(fields):
            return count
        names = [m.group(1).lower() for m in fields if m]
        lengths = [
            m.group(0).split(b":", 1)[1].strip(b" \t")
            for m in fields
            if m and m.group(1).lower() == b"content-length"
        ]
        if b"transfer-encoding" in names or len(lengths) > 1:
            return count
        if lengths and not re.fullmatch(rb"[0-9]{1,6}", lengths[0]):
            return count
        pos = end + 4 + (int(lengths[0]) if lengths else 0)
        if pos > len(stream):
            return count
        count += 1


def answers(raw: bytes) -> list[tuple[int, bool, int]]:
    """(status, Connection: close, end offset) of each final response in `raw` (every one has a
    body of its Content-Length: the streams hold no HEAD request)."""
    found = []
    pos = 0
    while pos < len(raw):
        end = raw.index(b"\r\n\r\n", pos)
        head = raw[pos:end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        pos = end + 4
        if status == 100:
            continue
        length = int(re.search(r"\r\nContent-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        pos += length
        found.append((status, "\r\nConnection: close" in head, pos))
    return found


_PIECES = [
    b"GET /ping HTTP/1.1\r\n",
    b"GET /health HTTP/1.0\r\n",
    b"POST /ping HTTP/1.1\r\n",
    b"OPTIONS /ping HTTP/1.1\r\n",
    b"GET http://x/ HTTP/1.1\r\n",  # not HEAD: see answers()
    b"Host: a\r\n",
    b"Host : a\r\n",
    b"Host: b\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length : 5\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding : chunked\r\n",
    b" Transfer-Encoding: chunked\r\n",
    b"\tX: folded\r\n",
    b"X-Junk\r\n",
    b"X-A: 1\r",
    b"X-\x00: 1\r\n",
    b"X-Forwarded-For: 10.0.0.1\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"hello",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"GET /ping\r\n",
]


@pytest.mark.parametrize(
    ("stream", "frames"),
    [
        (b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" * 2, 2),
        (b"GET /ping HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\nGET /ping HTTP/1.1\r\n\r\n", 0),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n", 2),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", 0),
        (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0),
    ],
)
def test_the_reference_framer(stream, frames):
    assert strict_frames(stream) == frames


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=6)), max_size=14).map(b"".join)
)
def test_no_more_answers_than_strictly_framed_requests(agent: Any, stream: bytes) -> None:
    raw = _half_closed(agent.port, stream)
    found = answers(raw)
    assert found == [] or found[-1][2] == len(raw)  # whole responses only
    frames = strict_frames(stream)
    assert len(found) <= frames + 1, (stream, raw)
    for index, (status, close, _) in enumerate(found):
        if close:
            assert index == len(found) - 1, (stream, raw)  # nothing after a refusal
        if index >= frames:
            assert status >= 400 and close, (stream, raw)  # beyond them: one refusal only
