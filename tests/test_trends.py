"""The patient page's trend plots (centre/web/trends.py): tables of cases; every plot parses as
XML, has no script and no style attribute, and escapes its text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from centre.web.trends import (
    COLUMNS,
    OSLO,
    Point,
    Words,
    day_ticks,
    nice_ticks,
    number,
    state_of,
    trend_svg,
    value_range,
)

SVG = "{http://www.w3.org/2000/svg}"
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = END - timedelta(days=14)
WORDS = Words(title="Blood pressure: systolic (mmHg)", no_data="No readings in this period")


def at(days_before_end: float) -> datetime:
    return END - timedelta(days=days_before_end)


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        assert element.tag != f"{SVG}script"
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
        assert (
            "href" not in element.attrib
            and "{http://www.w3.org/1999/xlink}href" not in element.attrib
        )
    return root


def markers(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "point" in g.attrib.get("class", "").split()]


CASES = [
    # (what, points, low, high, shown, states)
    ("empty", [], None, None, 0, []),
    ("one point", [Point(at(1), 120.0)], None, None, 1, ["within"]),
    ("limits only", [], 90.0, 180.0, 0, []),
    (
        "values beyond limits",
        [Point(at(3), 185.0), Point(at(2), 85.0), Point(at(1), 130.0)],
        90.0,
        180.0,
        3,
        ["above", "below", "within"],
    ),
    (
        "a value on the limit is within",
        [Point(at(1), 180.0), Point(at(0.5), 90.0)],
        90.0,
        180.0,
        2,
        ["within", "within"],
    ),
    (
        "non-finite and absurd values skipped",
        [
            Point(at(4), math.nan),
            Point(at(3), math.inf),
            Point(at(2), -math.inf),
            Point(at(1.5), 1e300),
            Point(at(1), 140.0),
        ],
        None,
        180.0,
        1,
        ["within"],
    ),
    (
        "outside the period left out",
        [Point(at(15), 120.0), Point(END, 120.0), Point(at(1), 121.0)],
        None,
        None,
        1,
        ["within"],
    ),
    ("only a lower limit", [Point(at(1), 88.0)], 90.0, None, 1, ["below"]),
]


@pytest.mark.parametrize(("what", "points", "low", "high", "shown", "states"), CASES)
def test_plots(
    what: str,
    points: list[Point],
    low: float | None,
    high: float | None,
    shown: int,
    states: list[str],
) -> None:
    plot = trend_svg(points, START, END, WORDS, low, high)
    root = parsed(plot.svg)
    assert plot.shown == shown, what
    found = markers(root)
    assert [
        next(c for c in g.attrib["class"].split() if c.startswith("point-"))[6:] for g in found
    ] == states
    limit_lines = [e for e in root.iter(f"{SVG}line") if e.attrib.get("class") == "limit"]
    assert len(limit_lines) == len([v for v in (low, high) if v is not None]), what
    labels = [
        e.text or "" for e in root.iter(f"{SVG}text") if e.attrib.get("class") == "limit-label"
    ]
    for value in (low, high):
        if value is not None:
            assert any(number(value) in label for label in labels), (what, labels)
    texts = "".join(e.text or "" for e in root.iter(f"{SVG}text"))
    assert (WORDS.no_data in texts) == (shown == 0), what


def test_outside_is_a_distinct_shape_and_colour_and_invalid_is_hollow() -> None:
    points = [Point(at(3), 130.0), Point(at(2), 190.0), Point(at(1), 80.0, invalid=True)]
    root = parsed(trend_svg(points, START, END, WORDS, 90.0, 180.0).svg)
    within, above, below = markers(root)
    assert within.find(f"{SVG}circle") is not None and within.find(f"{SVG}polygon") is None
    assert above.find(f"{SVG}polygon") is not None and below.find(f"{SVG}polygon") is not None
    fill_within = within.find(f"{SVG}circle").attrib["fill"]  # type: ignore[union-attr]
    fill_above = above.find(f"{SVG}polygon").attrib["fill"]  # type: ignore[union-attr]
    assert fill_within != fill_above
    hollow = below.find(f"{SVG}polygon")
    assert (
        hollow is not None and hollow.attrib["fill"] == "none" and hollow.attrib["stroke"] != "none"
    )
    assert "point-invalid" in below.attrib["class"]

    # The triangles point the way the value left the limits.
    def tip_y(g: ET.Element) -> float:
        shape = g.find(f"{SVG}polygon")
        assert shape is not None
        return float(shape.attrib["points"].split()[0].split(",")[1])

    def centre_y(g: ET.Element) -> float:
        shape = g.find(f"{SVG}polygon")
        assert shape is not None
        ys = [float(c.split(",")[1]) for c in shape.attrib["points"].split()]
        return sum(ys) / 3

    assert tip_y(above) < centre_y(above) and tip_y(below) > centre_y(below)


HOSTILE = [
    '<script>alert("x")</script>',
    "]]><svg onload=alert(1)>",
    "a & b \" ' < >",
    "control \x00\x01\x1f characters",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_text_is_escaped(title: str) -> None:
    words = Words(title=title, no_data=title, min_label=title, max_label=title, above=title)
    plot = trend_svg([Point(at(1), 200.0)], START, END, words, 90.0, 180.0)
    root = parsed(plot.svg)  # no script element, no event attribute: the text stayed text
    assert "<script" not in plot.svg and "<svg onload" not in plot.svg
    title_element = root.find(f"{SVG}title")
    assert title_element is not None
    assert title_element.text == "".join(c for c in title if c >= " ")


def test_many_points_are_thinned_within_a_bound_and_keep_the_extremes() -> None:
    n = 50_000
    points = [
        Point(START + timedelta(seconds=i * 14 * 86400 / n), 120.0 + (i % 7)) for i in range(n)
    ]
    points[12_345] = Point(points[12_345].at, 250.0)  # the one value above the limit
    plot = trend_svg(points, START, END, WORDS, 90.0, 180.0)
    root = parsed(plot.svg)
    assert plot.total == n and plot.shown <= 2 * COLUMNS
    assert len(markers(root)) == plot.shown
    assert [g for g in markers(root) if "point-above" in g.attrib["class"]], "the extreme is kept"
    assert len(plot.svg) < 2_000_000


def test_a_few_points_are_all_kept() -> None:
    points = [Point(at(d / 10), 100.0 + d) for d in range(1, 101)]
    assert trend_svg(points, START, END, WORDS).shown == 100


@pytest.mark.parametrize(
    ("start", "end", "first", "zone_offsets"),
    [
        # Spring forward (29 March 2026): the day has 23 hours; midnights stay local midnights.
        (
            datetime(2026, 3, 22, tzinfo=OSLO),
            datetime(2026, 4, 5, tzinfo=OSLO),
            date(2026, 3, 22),
            {timedelta(hours=1), timedelta(hours=2)},
        ),
        # Fall back (25 October 2026): 25 hours.
        (
            datetime(2026, 10, 18, tzinfo=OSLO),
            datetime(2026, 11, 1, tzinfo=OSLO),
            date(2026, 10, 18),
            {timedelta(hours=1), timedelta(hours=2)},
        ),
    ],
)
def test_dates_on_the_axis_are_oslo_midnights_across_daylight_saving(
    start: datetime, end: datetime, first: date, zone_offsets: set[timedelta]
) -> None:
    ticks = day_ticks(start.astimezone(UTC), end.astimezone(UTC))
    assert ticks[0][1] == first
    assert all(t.astimezone(OSLO).hour == 0 and t.astimezone(OSLO).date() == d for t, d in ticks)
    assert {t.astimezone(OSLO).utcoffset() for t, _ in ticks} == zone_offsets
    plot = trend_svg([Point(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), 120.0)], start, end, WORDS)
    root = parsed(plot.svg)
    labels = [e.text for e in root.iter(f"{SVG}text")]
    assert f"{first:%d.%m.}" in labels


@pytest.mark.parametrize("days", [14, 30, 90])
def test_every_period_has_a_handful_of_date_labels(days: int) -> None:
    ticks = day_ticks(END - timedelta(days=days), END)
    assert 5 <= len(ticks) <= 16


@pytest.mark.parametrize(
    ("values", "limits", "contains"),
    [
        ([], [], (0.0, 1.0)),
        ([120.0], [], (120.0, 120.0)),
        ([120.0], [90.0, 180.0], (90.0, 180.0)),
        ([0.0], [], (0.0, 0.0)),
        ([-5.0, 5.0], [], (-5.0, 5.0)),
    ],
)
def test_the_y_range_holds_data_and_limits(
    values: list[float], limits: list[float], contains: tuple[float, float]
) -> None:
    low, high = value_range(values, limits)
    assert low < high and low <= contains[0] and high >= contains[1]


@pytest.mark.parametrize(
    ("low", "high"), [(0.0, 1.0), (85.0, 190.0), (0.003, 0.009), (-10.0, 10.0)]
)
def test_ticks_are_inside_and_several(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    assert 3 <= len(ticks) <= 11 and all(low <= t <= high for t in ticks)


@pytest.mark.parametrize(
    ("value", "low", "high", "state"),
    [
        (181, 90, 180, "above"),
        (180, 90, 180, "within"),
        (89.9, 90, 180, "below"),
        (5, None, None, "within"),
    ],
)
def test_state(value: float, low: float | None, high: float | None, state: str) -> None:
    assert state_of(value, low, high) == state


@pytest.mark.parametrize(
    ("start", "end"),
    [(END, START), (END, END), (START.replace(tzinfo=None), END)],
)
def test_a_period_that_is_no_period_is_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="period"):
        trend_svg([], start, end, WORDS)


def test_a_point_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Point(datetime(2026, 11, 1, 12, 0), 1.0)
