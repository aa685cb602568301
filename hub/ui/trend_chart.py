"""The 14-day trend as rows of block characters with the care plan's limit drawn across as a
dashed line (pure; the card shows the rows as text).

Textual's Sparkline can draw no line of its own, and a limit said only by colour means nothing
to a patient who cannot tell the colours apart. Here a day at or past the limit covers the
dashes, and a day below it leaves them showing, so "above the line" reads at a glance; the label
under the chart names the limit in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = " ▁▂▃▄▅▆▇█"  # eighths of a cell, bottom up
STEPS = len(BLOCKS) - 1
DASH = "╌"


def _level(value: float, low: float, high: float, levels: int) -> int:
    """1..levels: even the lowest value shows as a sliver."""
    if high == low:
        return (levels + 1) // 2
    return 1 + round((value - low) / (high - low) * (levels - 1))


def trend_rows(
    values: Sequence[float], limit: float | None, height: int = 2, day_width: int = 3
) -> tuple[str, ...]:
    """Rows top first; each value `day_width` columns wide. The limit, when given and finite, is
    drawn as dashes in the row it falls in, wherever a bar does not reach into that row."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite or height < 1:
        return ()
    drawn_limit = limit if limit is not None and math.isfinite(limit) else None
    scale = finite if drawn_limit is None else [*finite, drawn_limit]
    low, high, levels = min(scale), max(scale), height * STEPS
    bars = [_level(v, low, high, levels) for v in finite]
    limit_level = None if drawn_limit is None else _level(drawn_limit, low, high, levels)
    limit_row = None if limit_level is None else (limit_level - 1) // STEPS
    rows = []
    for row in reversed(range(height)):
        cells = []
        for bar in bars:
            fill = max(0, min(STEPS, bar - row * STEPS))
            below = limit_level is not None and bar < limit_level
            # In the limit's row a day below the limit shows the line, not its sliver of bar.
            cell = DASH if row == limit_row and below else BLOCKS[fill]
            cells.append(cell * day_width)
        rows.append("".join(cells))
    return tuple(rows)
