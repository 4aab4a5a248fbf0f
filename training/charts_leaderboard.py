"""The leaderboard's chart: ratings with their 95% intervals, as an SVG rendered on the server (pygal)."""

from __future__ import annotations

from typing import Any

import pygal
from pygal.style import CleanStyle

WIDTH, HEIGHT = 720, 340


def ratings_chart(board: Any) -> str:
    """A bar per model (best first) from below the lowest interval, with its 95% interval as error bars."""
    lows = [m.ci[0] for m in board.models]
    highs = [m.ci[1] for m in board.models]
    pad = max(10.0, 0.1 * (max(highs) - min(lows)))
    floor = round(min(lows) - pad)
    chart = pygal.Bar(
        width=WIDTH,
        height=HEIGHT,
        explicit_size=True,
        style=CleanStyle,
        js=[],
        disable_xml_declaration=True,
        title="Rating (Bradley-Terry, 95% bootstrap interval)",
        show_legend=False,
        x_label_rotation=20,
        range=(floor, round(max(highs) + pad)),
        zero=floor,
        truncate_label=24,
        print_values=False,
    )
    chart.x_labels = [m.name for m in board.models]
    chart.add(
        "rating",
        [
            {
                "value": round(m.rating, 1),
                "ci": {"low": m.ci[0], "high": m.ci[1]},
                "label": f"{m.name}: {m.rating:.1f} [{m.ci[0]:.1f}, {m.ci[1]:.1f}]",
            }
            for m in board.models
        ],
    )
    return chart.render(is_unicode=True)
