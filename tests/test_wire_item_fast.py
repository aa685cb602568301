"""An item read in one step (hub/wire/batch.py `_plain_item`) is the item the strict way
(strict.load, then WireItem) gives, and hostile items are left to the strict way, which
refuses them saying why: the one step never takes what the strict way refuses."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from hub.core.canonical import canonical_json
from hub.wire import strict
from hub.wire.batch import MAX_VALUES, WireItem, _colons_and_numbers, _plain_item
from hub.wire.envelope import EnvelopeError
from hub.wire.sealing import read_item
from tests.test_envelope import item

GOOD = canonical_json({**item(7, 128.0), "raw_hex": "1e000004d2e0000000000000000000000000"})
REST = GOOD[1:]  # the good item's fields, after its opening brace


def strict_way(plain: bytes, seq: int = 7) -> dict[str, Any] | str:
    try:
        return strict.parse(
            WireItem, read_item(plain, seq), f"item {seq}", EnvelopeError
        ).model_dump()
    except EnvelopeError as exc:
        return str(exc)


def with_values(values: bytes) -> bytes:
    return GOOD.replace(b'"values":{"systolic":128.0}', b'"values":' + values)


CASES: list[tuple[str, bytes]] = [
    ("good", GOOD),
    ("pretty", canonical_json(item(7, 128.0)).replace(b",", b",\n  ").replace(b'":', b'" : ')),
    (
        "int where a float goes",
        GOOD.replace(b'"hub_clock_offset_s":-0.25', b'"hub_clock_offset_s":5'),
    ),
    ("small float", with_values(b'{"x":1e-05,"y":-0.0,"z":0.30000000000000004}')),
    ("largest integer", with_values(b'{"x":9223372036854775807}')),
    ("integer too large", with_values(b'{"x":9223372036854775808}')),
    ("integer far too large", with_values(b'{"x":' + b"9" * 400 + b"}")),
    ("float with many digits", with_values(b'{"x":' + b"1" * 400 + b".0}")),
    ("large finite float", with_values(b'{"x":1.5e308}')),
    ("infinite float", with_values(b'{"x":1e999}')),
    ("infinite, upper case, signed", with_values(b'{"x":[-2.5E+400]}')),
    ("NaN", with_values(b'{"x":NaN}')),
    ("Infinity", with_values(b'{"x":-Infinity}')),
    ("NaN where a float goes", GOOD.replace(b"-0.25", b"NaN")),
    ("infinite where a float goes", GOOD.replace(b"-0.25", b"-1e400")),
    ("huge where a float goes", GOOD.replace(b"-0.25", b"123456789012345678901")),
    ("NaN as text", with_values(b'{"x":"NaN","y":"1e999","z":"12345678901234567890"}')),
    ("NaN under a key said again", b'{"values":{"x":NaN},' + REST),
    ("infinite under a key said again", b'{"values":{"x":1e999},' + REST),
    ("huge under a key said again", b'{"values":[123456789012345678901234],' + REST),
    ("lone surrogate under a key said again", b'{"values":"\\ud800",' + REST),
    ("seq said twice", b'{"seq":8,' + REST),
    ("a value said twice", with_values(b'{"x":"a:b","x":"c:d"}')),
    ("infinite under a value said again", with_values(b'{"x":1e999,"x":1}')),
    ("huge under a value said again", with_values(b'{"x":[99999999999999999999],"x":1}')),
    ("NaN under a key said again, colons", b'{"values":{"x:y":NaN},' + REST),
    (
        "NaN under a key said again, escape",
        b'{"values":{"x":NaN},' + REST.replace(b"T10", b"\\u003a"),
    ),
    ("colons in text", with_values(b'{"x:y":"a:b:c","z":["::"]}')),
    ("seq said twice, wrong last", GOOD[:-1] + b',"seq":8}'),
    ("lone surrogate", with_values(b'{"x":"\\udc00"}')),
    ("lone surrogate key", with_values(b'{"\\ud800":1}')),
    ("paired surrogates", with_values(b'{"x":"\\ud83d\\ude00","\\u00e6":"\xc3\xa6"}')),
    ("NUL escaped", with_values(b'{"x":"a\\u0000b"}')),
    ("control character", with_values(b'{"x":"a\x01b"}')),
    ("bad escape", with_values(b'{"x":"\\x41"}')),
    ("overlong UTF-8", with_values(b'{"x":"\xc0\xaf"}')),
    ("encoded surrogate", with_values(b'{"x":"\xed\xa0\x80"}')),
    ("not UTF-8", with_values(b'{"x":"\xff"}')),
    ("byte order mark", b"\xef\xbb\xbf" + GOOD),
    ("trailing data", GOOD + b" {}"),
    ("trailing NUL", GOOD + b"\x00"),
    ("trailing comma", GOOD[:-1] + b",}"),
    ("as deep as allowed", with_values(b'{"x":' + b"[" * 70 + b"]" * 70 + b"}")),
    ("one level too deep", with_values(b'{"x":' + b"[" * 71 + b"]" * 71 + b"}")),
    ("far too deep", with_values(b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}")),
    ("brackets in text", with_values(b'{"x":"' + b"[" * 100 + b'"}')),
    ("seq as text", GOOD.replace(b'"seq":7', b'"seq":"7"')),
    ("another seq", GOOD.replace(b'"seq":7', b'"seq":8')),
    ("seq zero", GOOD.replace(b'"seq":7', b'"seq":0')),
    ("field unknown", GOOD[:-1] + b',"colour":"red"}'),
    ("field missing", GOOD.replace(b'"outcome":"ok",', b"")),
    ("not an object", b"[" + GOOD + b"]"),
    ("a number", b"7"),
    ("empty", b""),
    ("values too large", with_values(b'{"x":"' + b"x" * 90_000 + b'"}')),
    ("script in text", GOOD.replace(b'"ok"', b'"<script>alert(1)</script>"')),
    ("bad stamp", GOOD.replace(b"2026-11-22T10:00:00+00:00", b"9999-12-31T23:30:00+00:00")),
    (
        "bool for a flag as number",
        GOOD.replace(b'"hub_clock_synced":true', b'"hub_clock_synced":1'),
    ),
]


@pytest.mark.parametrize(("name", "plain"), CASES, ids=[c[0] for c in CASES])
def test_the_one_step_takes_only_what_the_strict_way_takes_as_it_takes_it(
    name: str, plain: bytes
) -> None:
    quick = _plain_item(plain, 7)
    if quick is not None:
        assert quick == strict_way(plain)
    else:
        assert isinstance(strict_way(plain), dict | str)  # the strict way decides, as before


TAKEN_IN_ONE_STEP = [
    "good",
    "pretty",
    "int where a float goes",
    "small float",
    "largest integer",
    "NaN as text",
    "colons in text",
]
TAKEN_THE_STRICT_WAY = [
    "as deep as allowed",
    "large finite float",
    "paired surrogates",
]


@pytest.mark.parametrize("name", TAKEN_IN_ONE_STEP)
def test_an_ordinary_item_is_read_in_one_step(name: str) -> None:
    plain = dict(CASES)[name]
    assert _plain_item(plain, 7) == strict_way(plain)
    assert isinstance(strict_way(plain), dict)


@pytest.mark.parametrize("name", TAKEN_THE_STRICT_WAY)
def test_an_item_the_one_step_cannot_vouch_for_is_still_taken(name: str) -> None:
    plain = dict(CASES)[name]
    assert _plain_item(plain, 7) is None
    assert isinstance(strict_way(plain), dict)


REFUSED = [
    (name, why)
    for name, why in [
        ("integer too large", "out of range"),
        ("infinite float", "out of range"),
        ("NaN", "not a number"),
        ("NaN under a key said again", "not a number"),
        ("infinite under a key said again", "out of range"),
        ("huge under a key said again", "out of range"),
        ("infinite under a value said again", "out of range"),
        ("huge under a value said again", "out of range"),
        ("NaN under a key said again, colons", "not a number"),
        ("lone surrogate key", "lone surrogate"),
        ("one level too deep", "nested deeper than 72"),
        # A key given twice: json kept the last; strict.load refuses it (which was meant?).
        ("seq said twice", "the key 'seq' is given twice"),
        ("a value said twice", "the key 'x' is given twice"),
        ("seq said twice, wrong last", "the key 'seq' is given twice"),
        ("values too large", "more than"),
        ("control character", "not JSON"),
        ("overlong UTF-8", "not UTF-8"),
    ]
]


@pytest.mark.parametrize(("name", "why"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_hostile_item_is_refused_saying_why(name: str, why: str) -> None:
    plain = dict(CASES)[name]
    assert _plain_item(plain, 7) is None
    refusal = strict_way(plain)
    assert isinstance(refusal, str) and why in refusal, refusal


VALUES_TEXTS = [
    b'{"x":"\\u00e6 \xc3\xa6"}',  # beyond ASCII, escaped and not
    b'{"x":"a\x7fb"}',  # DEL: json.dumps escapes it, ensure_ascii=False does not
    b'{"x":"a\\nb\\u0001\\"\\\\"}',  # short escapes, a control character, quote, backslash
    b'{"x":"\\\\u00e6"}',  # a backslash, then u00e6 as text
    b'{"\xc3\xa6":[1.5,{"y":null}]}',
]


@pytest.mark.parametrize(
    "plain",
    [plain for _, plain in CASES] + [with_values(v) for v in VALUES_TEXTS],
    ids=[name for name, _ in CASES] + [f"values {n}" for n in range(len(VALUES_TEXTS))],
)
def test_the_values_text_carried_to_the_store_is_json_dumps_of_the_values(plain: bytes) -> None:
    """Either way an item is taken, its values' text left for the store (OpenedBatch
    .values_json) is what the store wrote before: json.dumps of the item's values."""
    quick: dict[str, str] = {}
    item_ = _plain_item(plain, 7, quick)
    if item_ is not None:
        assert quick["values_json"] == json.dumps(item_["values"])
    slow: dict[str, str] = {}
    try:
        taken = strict.parse(WireItem, read_item(plain, 7), "item 7", EnvelopeError, slow)
    except EnvelopeError:
        return
    assert slow["values_json"] == json.dumps(taken.model_dump()["values"])


def _size_before(values: dict[str, Any]) -> int:
    """The size bound's measure before: UTF-8 bytes of json.dumps(..., ensure_ascii=False)."""
    return len(json.dumps(values, ensure_ascii=False).encode())


@pytest.mark.parametrize("char", ["x", "\u00e6", "\x7f", "\n", "\x01", "\\u", "\U0001f600", '"'])
@pytest.mark.parametrize("spare", [0, 1, -1, 2, -2, 3, -3, 4, -4])
def test_the_values_size_bound_falls_where_it_fell(char: str, spare: int) -> None:
    """Differential: values just under, at and over MAX_VALUES, measured the old way, are
    taken or refused as before whatever they hold."""
    base = {"x": ""}
    per = _size_before({"x": char}) - _size_before(base)
    count = (MAX_VALUES - _size_before(base)) // per
    values = {"x": char * count + "a" * (MAX_VALUES - _size_before(base) - count * per + spare)}
    fits = _size_before(values) <= MAX_VALUES
    plain = with_values(json.dumps(values, ensure_ascii=False).encode())
    taken = strict_way(plain)
    assert isinstance(taken, dict) is fits, (taken if isinstance(taken, str) else "taken", fits)


def _colons_by_stack(item: dict[str, Any]) -> int:
    """_colons_and_numbers as it was: the whole item walked by stack (the reference)."""
    colons = 0
    stack: list[Any] = [item]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            colons += node.count(":")
        elif kind is dict:
            colons += len(node) + "".join(node).count(":")
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind is float:
            if not abs(node) < 2**63 - 1:
                return -1
        elif kind is int and abs(node) > 2**63 - 1:
            return -1
    return colons


def _any_value(rng: random.Random, depth: int = 0) -> Any:
    leaves = [
        "a:b",
        "::",
        "",
        "x",
        1.5,
        -0.0,
        float("inf"),
        float("nan"),
        2.0**70,
        2**63 - 1,
        2**63,
        -(2**64),
        7,
        True,
        None,
    ]
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return rng.choice(leaves)
    if roll < 0.75:
        return [_any_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["k", "k:1", ":", "v"]) + str(n): _any_value(rng, depth + 1) for n in range(3)
    }


@pytest.mark.parametrize("seed", range(30))
def test_the_colon_count_is_the_one_the_whole_walk_made(seed: int) -> None:
    """Differential: _colons_and_numbers against the walk it replaced, on items as the one
    step dumps them (any field may hold any JSON value here: the count must not care)."""
    rng = random.Random(seed)
    base = WireItem.model_validate_json(GOOD).model_dump()
    for _ in range(200):
        item_ = dict(base)
        for name in rng.sample(sorted(base), rng.randrange(1, 5)):
            item_[name] = _any_value(rng)
        assert _colons_and_numbers(item_) == _colons_by_stack(item_), item_


@pytest.mark.parametrize("plain", [plain for _, plain in CASES], ids=[n for n, _ in CASES])
def test_the_colon_count_of_each_case_is_the_one_the_whole_walk_made(plain: bytes) -> None:
    try:
        item_ = WireItem.model_validate_json(plain).model_dump()
    except ValueError:
        return
    assert _colons_and_numbers(item_) == _colons_by_stack(item_)


def _as_dumped(plain: bytes) -> str | None:
    """repr of what model_dump made of the item, the one step's way before (repr: the same
    values of the same types, 5 and 5.0, 1 and True told apart)."""
    try:
        return repr(WireItem.model_validate_json(plain).model_dump())
    except ValueError:
        return None


@pytest.mark.parametrize("plain", [plain for _, plain in CASES], ids=[n for n, _ in CASES])
def test_the_one_step_gives_what_model_dump_gave(plain: bytes) -> None:
    """Differential: the one step takes the model's fields as validated (no model_dump); for
    every case it takes, they are what model_dump gave, and what the strict way gives."""
    quick = _plain_item(plain, 7)
    if quick is not None:
        assert repr(quick) == _as_dumped(plain)
        assert repr(quick) == repr(strict_way(plain))


@pytest.mark.parametrize("seed", range(10))
def test_the_one_step_gives_what_model_dump_gave_on_any_values(seed: int) -> None:
    """Differential on random values (any JSON, numbers out of range too) and random flags,
    offsets and problems: taken or left to the strict way as before, and the same item."""
    rng = random.Random(seed)
    for _ in range(100):
        values = {"k": _any_value(rng), "n": rng.choice([1, 1.0, -0.0, 2**53, "1"])}
        plain = with_values(json.dumps(values).encode())
        offset = rng.choice([b"5", b"-0.0", b"1e3", b"null", b"true", b"0"])
        plain = plain.replace(b'"hub_clock_offset_s":-0.25', b'"hub_clock_offset_s":' + offset)
        problems = rng.choice([b'["a"]', b"[]", b'["a","b:c"]', b"[1]"])
        plain = plain.replace(b'"problems":[]', b'"problems":' + problems)
        quick = _plain_item(plain, 7)
        if quick is not None:
            assert repr(quick) == _as_dumped(plain), plain
            assert repr(quick) == repr(strict_way(plain)), plain
