"""A trend plot of one value of one kind over a period, as an SVG string the patient page embeds
inline (issue 13, "The patient page"): the patient's limits drawn as labelled lines, each point
coloured and shaped by its state (within the limits a filled circle, above a triangle up, below
a triangle down), readings a nurse marked invalid drawn hollow, dates on the axis in the
centre's zone (Europe/Oslo).

Pure: no Django, no database, no clock. The caller passes the period, the points and the words
(already translated), and gets text that is safe to embed: every piece of text is escaped, there
is no script, and no style attribute (the page's Content-Security-Policy forbids inline styles;
SVG presentation attributes such as fill and stroke are not styles).

A plot is bounded whatever the data: non-finite values are skipped, and more points than fit
the plot's width are thinned to each pixel column's lowest and highest (so a value outside the
limits is never thinned away).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 84, 30, 36  # margins: the y labels left, the limit labels right
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLUMNS = PLOT_W  # one pixel column each: the most points kept is twice this
MAX_MAGNITUDE = 1e9  # a larger value is a corrupt number, not a measurement: not plotted
MARKER = 4.0

INK, MUTED, LINE = "#1a1a1a", "#555555", "#c8c8c8"
WITHIN, OUTSIDE, LIMIT = "#0b4f9c", "#b00020", "#7a5a00"

State = Literal["within", "above", "below"]
_Scale = Callable[[float], float]  # a value to its y
_Place = Callable[[datetime], float]  # an instant to its x
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Point:
    at: datetime  # aware
    value: float
    invalid: bool = False  # marked invalid by a nurse: drawn hollow

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError(f"a plotted point needs a time zone: {self.at.isoformat()}")


@dataclass(frozen=True)
class Words:
    """The plot's text, in the nurse's language (the caller translates)."""

    title: str  # e.g. "Blood pressure: systolic (mmHg)"
    no_data: str  # shown when there is nothing to plot
    above: str = "above"  # the points' tooltips: "12.03. 08:00 — 181 (above)"
    below: str = "below"
    invalid: str = "marked invalid"
    min_label: str = "min"
    max_label: str = "max"


@dataclass(frozen=True)
class Plot:
    svg: str
    shown: int  # points drawn
    total: int  # plottable points in the period (shown < total: thinned)


def state_of(value: float, low: float | None, high: float | None) -> State:
    if high is not None and value > high:
        return "above"
    if low is not None and value < low:
        return "below"
    return "within"


def plottable(points: Iterable[Point], start: datetime, end: datetime) -> list[Point]:
    """The points inside [start, end) with a value that can be drawn, oldest first."""
    kept = [
        p
        for p in points
        if start <= p.at < end and math.isfinite(p.value) and abs(p.value) <= MAX_MAGNITUDE
    ]
    return sorted(kept, key=lambda p: p.at)


def thinned(points: Sequence[Point], start: datetime, end: datetime) -> list[Point]:
    """At most two points per pixel column, its lowest and highest (oldest first): the shape
    and every extreme stay, the size is bounded."""
    if len(points) <= 2 * COLUMNS:
        return list(points)
    span = (end - start).total_seconds()
    columns: dict[int, list[Point]] = {}
    for p in points:
        column = min(COLUMNS - 1, int((p.at - start).total_seconds() / span * COLUMNS))
        columns.setdefault(column, []).append(p)
    kept: set[int] = set()
    index = {id(p): n for n, p in enumerate(points)}
    for members in columns.values():
        kept.add(index[id(min(members, key=lambda p: p.value))])
        kept.add(index[id(max(members, key=lambda p: p.value))])
    return [points[n] for n in sorted(kept)]


def value_range(values: Sequence[float], limits: Sequence[float]) -> tuple[float, float]:
    """The y axis: the data and the limits, with a margin; never empty."""
    every = [*values, *limits]
    if not every:
        return 0.0, 1.0
    low, high = min(every), max(every)
    pad = (high - low) * 0.08 if high > low else max(abs(high) * 0.05, 1.0)
    return low - pad, high + pad


def nice_ticks(low: float, high: float, wanted: int = 6) -> list[float]:
    """Round numbers across [low, high] for the y axis."""
    raw = (high - low) / max(wanted - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    count = int((high - first) / step) + 1
    return [round(first + n * step, 10) for n in range(max(count, 0))]


def day_ticks(start: datetime, end: datetime, tz: tzinfo = OSLO) -> list[tuple[datetime, date]]:
    """Local midnights in [start, end), spaced so that about eight are labelled; each as the
    instant (for its place on the axis, right on a daylight-saving day) and the date."""
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    days = (last - first).days + 1
    every = max(1, math.ceil(days / 8))
    ticks = []
    for n in range(0, days + 1, every):
        day = first + timedelta(days=n)
        instant = datetime.combine(day, time(0), tz)
        if start <= instant < end:
            ticks.append((instant, day))
    return ticks


def text(value: object) -> str:
    """Text safe inside an SVG element or a quoted attribute."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def number(value: float) -> str:
    """A value as the nurse reads it: at most three decimals, no trailing zeros."""
    shown = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if shown == "-0" else shown


def trend_svg(
    points: Iterable[Point],
    start: datetime,
    end: datetime,
    words: Words,
    low: float | None = None,
    high: float | None = None,
    tz: tzinfo = OSLO,
) -> Plot:
    """The plot of `points` over [start, end) with the limits `low` and `high` (either may be
    absent), in zone `tz`."""
    if start.utcoffset() is None or end.utcoffset() is None or not end > start:
        raise ValueError("a trend's period needs aware times, its end after its start")
    every = plottable(points, start, end)
    drawn = thinned(every, start, end)
    limits = [v for v in (low, high) if v is not None and math.isfinite(v)]
    y_low, y_high = value_range([p.value for p in drawn], limits)
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        return LEFT + (at - start).total_seconds() / span * PLOT_W

    def y(value: float) -> float:
        return TOP + (y_high - value) / (y_high - y_low) * PLOT_H

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{text(words.title)}">',
        f"<title>{text(words.title)}</title>",
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold" fill="{INK}">'
        f"{text(words.title)}</text>",
        _frame(),
        *_y_axis(y_low, y_high, y),
        *_x_axis(start, end, tz, x),
        *_limit_lines(low, high, words, y),
    ]
    if drawn:
        parts.append(_trend_line(drawn, x, y))
        parts.extend(_marker(p, state_of(p.value, low, high), words, x, y, tz) for p in drawn)
    else:
        parts.append(
            f'<text x="{LEFT + PLOT_W / 2:.1f}" y="{TOP + PLOT_H / 2:.1f}" text-anchor="middle" '
            f'font-size="13" fill="{MUTED}">{text(words.no_data)}</text>'
        )
    parts.append("</svg>")
    return Plot("".join(parts), len(drawn), len(every))


def _frame() -> str:
    return (
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" '
        f'stroke="{LINE}"/>'
    )


def _y_axis(low: float, high: float, y: _Scale) -> list[str]:
    out = []
    for tick in nice_ticks(low, high):
        at = y(tick)
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{at:.1f}" y2="{at:.1f}" '
            f'stroke="{LINE}" stroke-width="0.5"/>'
            f'<text x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{text(number(tick))}</text>'
        )
    return out


def _x_axis(start: datetime, end: datetime, tz: tzinfo, x: _Place) -> list[str]:
    out = []
    for instant, day in day_ticks(start, end, tz):
        at = x(instant)
        out.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H + 4}" '
            f'stroke="{MUTED}"/>'
            f'<text x="{at:.1f}" y="{TOP + PLOT_H + 18}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{day:%d.%m.}</text>'
        )
    return out


def _limit_lines(low: float | None, high: float | None, words: Words, y: _Scale) -> list[str]:
    out = []
    for value, label in ((high, words.max_label), (low, words.min_label)):
        if value is None or not math.isfinite(value):
            continue
        at = y(value)
        out.append(
            f'<line class="limit" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{at:.1f}" y2="{at:.1f}" '
            f'stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text class="limit-label" x="{LEFT + PLOT_W + 6}" y="{at + 4:.1f}" font-size="11" '
            f'fill="{LIMIT}">{text(label)} {text(number(value))}</text>'
        )
    return out


def _trend_line(points: Sequence[Point], x: _Place, y: _Scale) -> str:
    valid = [p for p in points if not p.invalid]
    if len(valid) < 2:
        return ""
    coordinates = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in valid)
    return f'<polyline points="{coordinates}" fill="none" stroke="{LINE}" stroke-width="1"/>'


def _marker(p: Point, state: State, words: Words, x: _Place, y: _Scale, tz: tzinfo) -> str:
    cx, cy = x(p.at), y(p.value)
    colour = OUTSIDE if state != "within" else WITHIN
    fill = "none" if p.invalid else colour
    paint = f'fill="{fill}" stroke="{colour}" stroke-width="1.5"'
    notes = [{"above": words.above, "below": words.below}.get(state, "")]
    notes.append(words.invalid if p.invalid else "")
    said = ", ".join(n for n in notes if n)
    tooltip = f"{p.at.astimezone(tz):%d.%m. %H:%M} — {number(p.value)}" + (
        f" ({said})" if said else ""
    )
    classes = f"point point-{state}" + (" point-invalid" if p.invalid else "")
    if state == "within":
        shape = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{MARKER}" {paint}>'
        end = "</circle>"
    else:
        r = MARKER + 1.5
        tip = -r if state == "above" else r
        corners = f"{cx:.1f},{cy + tip:.1f} {cx - r:.1f},{cy - tip:.1f} {cx + r:.1f},{cy - tip:.1f}"
        shape = f'<polygon points="{corners}" {paint}>'
        end = "</polygon>"
    return f'<g class="{classes}">{shape}<title>{text(tooltip)}</title>{end}</g>'
