"""Evaluate the CloudWatch metric math our alarms emit, one period at a time, and decide an
alarm the way CloudWatch does, so tests can check what an alarm *means* on sample traffic.

Covers the subset the modules write: metric ids, numbers, `+ - * /`, comparisons (1 or 0),
`FILL(x, value)`, `IF(condition, a, b)` and `MAX([...])` of series (CloudWatch User Guide,
"Using math expressions with CloudWatch metrics",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
A missing datapoint is None: arithmetic on it is missing, FILL replaces it, MAX skips it, and
IF evaluates only the branch its condition picks. Anything else raises, so an expression
outside this subset fails the test instead of being guessed at.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Point = float | None
_ARITHMETIC: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
    ast.LtE: operator.le,
    ast.Lt: operator.lt,
    ast.Eq: operator.eq,
}


def _binary(node: ast.BinOp, look: Callable[[str], Point]) -> Point:
    left, right = _eval(node.left, look), _eval(node.right, look)
    if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
        return None
    return _ARITHMETIC[type(node.op)](left, right)


def _compare(node: ast.Compare, look: Callable[[str], Point]) -> Point:
    (op,), (right_node,) = node.ops, node.comparators
    left, right = _eval(node.left, look), _eval(right_node, look)
    if left is None or right is None:
        return None
    return 1.0 if _COMPARE[type(op)](left, right) else 0.0


def _call(node: ast.Call, look: Callable[[str], Point]) -> Point:
    assert isinstance(node.func, ast.Name), ast.dump(node)
    name, args = node.func.id, node.args
    if name == "FILL":
        value = _eval(args[0], look)
        return _eval(args[1], look) if value is None else value
    if name == "IF":
        condition = _eval(args[0], look)
        if condition is None:
            return None
        return _eval(args[1] if condition else args[2], look)
    if name == "MAX":
        (series,) = args
        assert isinstance(series, ast.List), "MAX of one series is a scalar, not a series"
        values = [v for v in (_eval(e, look) for e in series.elts) if v is not None]
        return max(values) if values else None
    raise ValueError(f"metric math function {name} is not modelled")


def _eval(node: ast.AST, look: Callable[[str], Point]) -> Point:
    if isinstance(node, ast.Name):
        return look(node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _binary(node, look)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _compare(node, look)
    if isinstance(node, ast.Call):
        return _call(node, look)
    raise ValueError(f"metric math construct not modelled: {ast.dump(node)}")


def evaluate(queries: Sequence[Mapping[str, Any]], datapoints: Mapping[str, Point]) -> Point:
    """The value of the alarm's returned query for one period, given each metric query's
    datapoint (absent or None: no datapoint)."""
    by_id = {q["id"]: q for q in queries}

    def look(query_id: str) -> Point:
        query = by_id[query_id]
        if "metric" in query:
            return datapoints.get(query_id)
        return _eval(ast.parse(query["expression"], mode="eval").body, look)

    (returned,) = [q for q in queries if q.get("return_data")]
    return look(returned["id"])


def fires(alarm: Mapping[str, Any], periods: Sequence[Mapping[str, Point]]) -> bool:
    """Whether the alarm goes to ALARM over these consecutive periods (oldest first): its
    last `evaluation_periods` values, `datapoints_to_alarm` of them breaching; a missing value
    does not breach (`treat_missing_data = notBreaching`)."""
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["treat_missing_data"] == "notBreaching"
    window = [evaluate(alarm["metric_query"], p) for p in periods][-alarm["evaluation_periods"] :]
    breaching = [v for v in window if v is not None and v > alarm["threshold"]]
    return (
        len(window) == alarm["evaluation_periods"]
        and len(breaching) >= alarm["datapoints_to_alarm"]
    )
