"""Strict JSON reading (hub/wire/strict.py): the checks hold whether the text shows they pass
(no surrogate escape, fewer brackets than the depth allowed: no walk) or the value is walked."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from hub.wire.strict import WireError, load

TAKEN: list[tuple[str, bytes, int, Any]] = [
    ("plain object", b'{"a":[1,2.5,"x"],"b":null}', 32, {"a": [1, 2.5, "x"], "b": None}),
    ("paired surrogates", b'{"a":"\\ud83d\\ude00"}', 32, {"a": "\U0001f600"}),
    ("paired, upper case", b'["\\uD83D\\uDE00"]', 32, ["\U0001f600"]),
    ("escaped backslash, then u-d-8", b'{"a":"\\\\ud800"}', 32, {"a": "\\ud800"}),
    ("not a surrogate", b'["\\u00e6\\ud7ff\\ue000"]', 32, ["\u00e6\ud7ff\ue000"]),
    ("as deep as allowed", b"[[[1]]]", 3, [[[1]]]),
    ("brackets in text only", b'["[[[[{{{{"]', 1, ["[[[[{{{{"]),
    ("many side by side", b"[" + b",".join([b"[1]"] * 50) + b"]", 2, [[1]] * 50),
    ("a scalar at depth 0 brackets", b'"x"', 1, "x"),
]

REFUSED: list[tuple[str, bytes, int, str]] = [
    ("lone high surrogate", b'{"a":"\\ud800"}', 32, "lone surrogate"),
    ("lone low surrogate", b'["\\udfff"]', 32, "lone surrogate"),
    ("lone, upper case", b'["\\uDBFF"]', 32, "lone surrogate"),
    ("lone in a key", b'{"\\udc00":1}', 32, "lone surrogate"),
    ("lone after a pair", b'["\\ud83d\\ude00\\ud83d"]', 32, "lone surrogate"),
    ("lone, deep among many", b"[" * 20 + b'"\\ud800"' + b"]" * 20, 32, "lone surrogate"),
    ("one level too deep", b"[[[[1]]]]", 3, "nested deeper than 3"),
    ("too deep, in objects", b'{"a":{"b":{"c":1}}}', 2, "nested deeper than 2"),
    ("too deep beside shallow", b"[[1],[2],[[3]]]", 2, "nested deeper than 2"),
    ("far too deep", b"[" * 5000 + b"]" * 5000, 32, "nested deeper than 32"),
    ("not a number", b"[NaN]", 32, "not a number"),
    ("infinite", b"[1e999]", 32, "out of range"),
    ("integer too long", b"[" + b"9" * 30 + b"]", 32, "out of range"),
    ("not UTF-8", b'["\xff"]', 32, "not UTF-8"),
    ("encoded surrogate", b'["\xed\xa0\x80"]', 32, "not UTF-8"),
]


@pytest.mark.parametrize(("name", "raw", "depth", "value"), TAKEN, ids=[c[0] for c in TAKEN])
def test_what_is_taken(name: str, raw: bytes, depth: int, value: Any) -> None:
    assert load(raw, "the message", depth) == value


@pytest.mark.parametrize(("name", "raw", "depth", "why"), REFUSED, ids=[c[0] for c in REFUSED])
def test_what_is_refused(name: str, raw: bytes, depth: int, why: str) -> None:
    with pytest.raises(WireError, match=why):
        load(raw, "the message", depth)


def _deeper_than(value: Any, max_depth: int) -> bool:
    """The depth check as the full walk made it: some object or array below max_depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _tree(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.3:
        return rng.choice([1, 2.5, "x", None, True, "[{", []])
    if roll < 0.65:
        return [_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{n}": _tree(rng, depth + 1) for n in range(rng.randrange(4))}


@pytest.mark.parametrize("seed", range(40))
def test_the_depth_alone_is_checked_as_the_full_walk_checks_it(seed: int) -> None:
    """Differential: load walks a value for its depth alone (no surrogate escape in the text) a
    level at a time; it refuses exactly what the full walk refuses."""
    rng = random.Random(seed)
    for _ in range(50):
        value = _tree(rng, 1)
        raw = json.dumps(value, separators=(",", ":")).encode()
        for max_depth in (0, 1, 2, 3, 4, 8):
            if _deeper_than(value, max_depth):
                with pytest.raises(WireError, match=f"nested deeper than {max_depth}"):
                    load(raw, "the message", max_depth)
            else:
                assert load(raw, "the message", max_depth) == value
