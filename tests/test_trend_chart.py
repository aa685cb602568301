"""The trend's rows: a bar per day, the limit dashed across where no bar reaches it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.ui.trend_chart import BLOCKS, DASH, trend_rows

CASES = [
    # values, limit, rows (top first), one column a day
    ((), None, ()),
    ((80.0,), None, (" ", "█")),
    ((1.0, 2.0), None, (" █", "▁█")),
    # Below the limit: the dashes show above every bar.
    ((100.0, 120.0), 160.0, ("╌╌", "▁▆")),
    # One day past the limit covers the dashes of its column; a day just below leaves them.
    ((120.0, 180.0, 150.0), 160.0, ("╌█╌", "▁██")),
    ((120.0, 180.0, 160.0), 160.0, ("╌█▃", "▁██")),
    # A limit below every value: dashes in the bottom row cannot show under a bar.
    ((120.0, 180.0), 100.0, (" █", "▅█")),
    # Non-finite values are left out; a non-finite limit is not drawn.
    ((1.0, math.nan, 2.0), math.inf, (" █", "▁█")),
]


@pytest.mark.parametrize(("values", "limit", "rows"), CASES)
def test_rows(values: tuple[float, ...], limit: float | None, rows: tuple[str, ...]) -> None:
    assert trend_rows(values, limit, day_width=1) == rows


def test_a_day_is_as_wide_as_asked() -> None:
    assert trend_rows((1.0, 2.0), None, day_width=3) == ("   ███", "▁▁▁███")


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=14),
    st.one_of(st.none(), st.floats(-1e6, 1e6)),
    st.integers(1, 4),
)
def test_any_values_give_equal_rows_of_blocks_and_dashes(
    values: list[float], limit: float | None, height: int
) -> None:
    rows = trend_rows(values, limit, height=height, day_width=1)
    assert len(rows) == height
    assert all(len(row) == len(values) for row in rows)
    assert set("".join(rows)) <= set(BLOCKS) | {DASH}
    # The highest value reaches the top row when it is the highest of all that is drawn.
    if len(set(values)) > 1 and (limit is None or limit <= max(values)):
        assert rows[0][values.index(max(values))] == BLOCKS[-1]
    if limit is None:
        assert DASH not in "".join(rows)
