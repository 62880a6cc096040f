"""The test-only EventBridge pattern matcher behaves like EventBridge for the syntax it supports."""

from __future__ import annotations

import pytest

from tests.event_pattern import UnsupportedPattern, matches

EVENT = {
    "source": "aws.secretsmanager",
    "detail-type": "AWS API Call via CloudTrail",
    "resources": [],
    "detail": {
        "eventName": "PutSecretValue",
        "requestParameters": {"secretId": "/dev/web/x"},
        "tags": ["a", "b"],
        "count": 3,
        "flag": False,
        "nothing": None,
    },
}


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"source": ["aws.secretsmanager"]},
        {"source": ["aws.other", "aws.secretsmanager"]},
        {"detail": {"eventName": ["PutSecretValue"]}},
        {"detail": {"requestParameters": {"secretId": [{"prefix": "/dev/web/"}]}}},
        {"detail": {"requestParameters": {"secretId": [{"prefix": "arn:"}, {"prefix": "/dev/"}]}}},
        {"detail": {"tags": ["b"]}},
        {"detail": {"count": [3]}},
        {"detail": {"flag": [False]}},
        {"detail": {"nothing": [None]}},
        {"detail": {"eventName": [{"anything-but": "RotateSecret"}]}},
        {"detail": {"eventName": [{"anything-but": ["RotateSecret", "UpdateSecret"]}]}},
        {"detail": {"eventName": [{"exists": True}], "absent": [{"exists": False}]}},
        {
            "detail": {
                "$or": [
                    {"eventName": ["Nope"]},
                    {"requestParameters": {"secretId": [{"prefix": "/dev/"}]}},
                ]
            }
        },
    ],
)
def test_matching_patterns(pattern):
    assert matches(pattern, EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.appconfig"]},
        {"source": ["AWS.SECRETSMANAGER"]},  # case-sensitive
        {"missing": ["x"]},  # key absent from the event
        {"detail": {"missing": {"deeper": ["x"]}}},
        {"detail": {"requestParameters": {"secretId": [{"prefix": "/prod/web/"}]}}},
        {"detail": {"requestParameters": {"secretId": [{"prefix": "/dev/web/x/"}]}}},
        {"detail": {"eventName": {"nested": ["x"]}}},  # object pattern vs string value
        {"detail": {"tags": ["c"]}},
        {"detail": {"count": ["3"]}},  # no type coercion
        {"detail": {"flag": [0]}},
        {"detail": {"eventName": [{"anything-but": "PutSecretValue"}]}},
        {"detail": {"absent": [{"anything-but": "x"}]}},  # anything-but needs the key present
        {"detail": {"eventName": [{"exists": False}]}},
        {"detail": {"$or": [{"eventName": ["Nope"]}, {"eventName": ["AlsoNope"]}]}},
        {"detail": {"eventName": ["PutSecretValue"], "$or": [{"x": ["1"]}, {"y": ["2"]}]}},
    ],
)
def test_non_matching_patterns(pattern):
    assert not matches(pattern, EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.secretsmanager"},  # leaf must be a list
        {"detail": {"count": [{"numeric": [">", 1]}]}},
        {"detail": {"eventName": [{"suffix": "Value"}]}},
        {"detail": {"eventName": [{"prefix": "Put", "suffix": "Value"}]}},
        {"detail": {"eventName": []}},
        {"$or": [{"source": ["x"]}]},
    ],
)
def test_unsupported_syntax_is_an_error_not_a_silent_match(pattern):
    with pytest.raises(UnsupportedPattern):
        matches(pattern, EVENT)
