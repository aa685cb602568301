"""Strict reading of JSON that crossed a trust boundary, before anything else looks at it.

Python's `json` accepts what would later crash a worker: `NaN` and `Infinity`, `1e999`
(infinite), integers of any length, lone surrogates (which SQLite cannot encode), and nesting
deep enough to raise RecursionError. And it takes an object that gives a key twice, keeping
the last: `{"request_id":"a","request_id":"b"}` reads as one thing to a checker that reads the
first and another to us (a signature, a log, a proxy). `load` refuses all of these with a
WireError that says what was wrong, so a hostile message becomes one logged refusal and never
an exception that escapes. Pure functions; no I/O.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hub.core.problems import first_problem
from hub.errors import HubError

MAX_DEPTH = 32
MAX_INT = 2**63 - 1  # what SQLite stores; no count, version or sequence number needs more
MAX_SEQ = 2**53 - 1  # the largest integer every JSON reader holds exactly


# Far enough apart for any clock a device was ever reset to, and far from the calendar's ends,
# where showing a time in Norway's zone overflows (a stamp of 9999-12-31T23:30Z broke pages).
FIRST_YEAR, LAST_YEAR = 1900, 2200


def _instant(text: str) -> str:
    """An ISO 8601 date-time with its offset (the centre stores it as a point in time)."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.utcoffset() is None:
            raise ValueError("no offset")
        year = moment.astimezone(UTC).year  # a zone may move it past the calendar's ends
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"year {year} is outside {FIRST_YEAR}-{LAST_YEAR}")
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text[:40]!r} is not a date-time with an offset ({exc})") from None
    return text


# Here, not beside the envelope, so the patient screen can check its status' times without
# loading the cryptography the envelope needs.
Stamp = Annotated[str, Field(min_length=10, max_length=40), AfterValidator(_instant)]


class WireError(HubError, ValueError):
    """JSON from the other side that must not be used, with the reason in plain words."""


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    # Checked by length first: int() of a 100 000-digit text is slow, and refused anyway.
    if len(text.lstrip("-")) > 19 or abs(value := int(text)) > MAX_INT:
        raise ValueError(f"integer {text[:20]} is out of range")
    return value


class KeyTwice(WireError):
    """An object that gives a key twice (json would keep the last)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"the key {_shown_key(key)} is given twice in one object; give each key once "
            "(which one was meant cannot be told)"
        )
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict, refusing a key given twice with KeyTwice: json's
    object_pairs_hook (`load` uses it; so can a reader that must stay lenient otherwise)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise KeyTwice(key)
            seen.add(key)
    return obj


def load(
    raw: bytes, what: str, max_depth: int = MAX_DEPTH, error: type[WireError] = WireError
) -> Any:
    """The JSON value in `raw`, or `error` (a WireError) naming `what` and the reason. Used for
    everything that crosses a boundary: batches at the centre, acks and documents at the hub,
    requests on the hub's local socket, a questionnaire uploaded at the centre."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            parse_constant=_constant,
            parse_float=_finite,
            parse_int=_bounded_int,
            object_pairs_hook=unique_keys,
        )
    except KeyTwice as exc:
        raise error(f"{what}: {exc}") from None
    except RecursionError:
        raise error(f"{what} is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise error(f"{what} is not JSON: {str(exc)[:200]}") from None
    # The walk is skipped when the text itself shows it would pass (almost every message; an
    # item's walk cost as much as its decoding and checking together, bench/ingest.py): a value
    # nests no deeper than it has brackets, and UTF-8 decoding refuses encoded surrogates, so a
    # lone one can only come from a \ud800-\udfff escape.
    texts = _SURROGATE_ESCAPE.search(text) is not None
    if texts or text.count("{") + text.count("[") > max_depth:
        _check_tree(value, what, max_depth, error, texts=texts)
    return value


def _shown_key(key: str) -> str:
    """A key for a message: short, and its escapes shown (it may hold anything)."""
    return ascii(key if len(key) <= 40 else key[:37] + "...")


# A \u escape of a surrogate, paired or not; also matches an escaped backslash followed by
# "ud800", which only costs the walk.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_tree(
    value: Any, what: str, max_depth: int, error: type[WireError], *, texts: bool = True
) -> None:
    """Depth and (with `texts`) text validity, walked without recursion (the value may be
    deep)."""
    if not texts:
        _check_depth(value, what, max_depth, error)
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if texts:
                _check_text(node, what, error)
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise error(f"{what} is nested deeper than {max_depth} levels")
            if isinstance(node, dict):
                if texts:
                    for key in node:
                        _check_text(key, what, error)
                stack.extend((child, depth + 1) for child in node.values())
            else:
                stack.extend((child, depth + 1) for child in node)


def _check_depth(value: Any, what: str, max_depth: int, error: type[WireError]) -> None:
    """Depth alone, a level at a time, looking only at containers: a batch body's 200 items
    (more brackets than its depth of 3, so walked) cost a twelfth of the walk above."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > max_depth:
            raise error(f"{what} is nested deeper than {max_depth} levels")
        if depth == max_depth:  # the last level allowed: whether anything there nests at all
            if any(not _CONTAINERS.isdisjoint(map(type, _children(node))) for node in level):
                raise error(f"{what} is nested deeper than {max_depth} levels")
            return
        below: list[Any] = []
        for node in level:
            below.extend(
                child
                for child in (node.values() if isinstance(node, dict) else node)
                if isinstance(child, dict | list)
            )
        level, depth = below, depth + 1


_CONTAINERS = frozenset((dict, list))  # what json.loads makes of objects and arrays, exactly


def _children(node: dict[str, Any] | list[Any]) -> Any:
    """What an object or array holds: a batch body's 200 items are looked at in one C call
    each (`map(type, ...)`), not by a generator (a third of the body's depth walk)."""
    return node.values() if isinstance(node, dict) else node


def _check_text(text: str, what: str, error: type[WireError]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} holds a lone surrogate (\\ud800-\\udfff), which is not text") from None


class Schema(BaseModel):
    """A wire object: exact types (no "7" for 7), no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


M = TypeVar("M", bound=Schema)


def parse(
    model: type[M],
    value: Any,
    what: str,
    error: type[WireError] = WireError,
    context: dict[str, Any] | None = None,
) -> M:
    """`value` as `model`, or `error` (a WireError) with the first problem pydantic found;
    `context`: pydantic's validation context, for validators that leave something there."""
    try:
        return model.model_validate(value, context=context)
    except ValidationError as exc:
        raise error(f"{what} is not valid: {first_problem(exc, '(top)')}") from None
