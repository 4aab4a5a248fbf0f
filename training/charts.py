"""Metric charts rendered on the server as SVG (pygal): no JavaScript, nothing from a CDN."""

import pygal
from pygal.style import CleanStyle

# Which logged metrics go on which chart; TRL's names differ a little between trainers.
CHARTS = {
    "Loss": ("loss", "eval_loss"),
    "Reward margin": ("rewards/margins", "margin"),
    "Accuracy": ("accuracy", "rewards/accuracies", "eval_accuracy"),
}


def metric_charts(series: list[dict]) -> list[tuple[str, str]]:
    """(title, svg) for each chart that has data in `series` (a list of {step, metric: value})."""
    charts = []
    for title, names in CHARTS.items():
        lines = {name: [(row["step"], row[name]) for row in series if name in row] for name in names}
        lines = {name: points for name, points in lines.items() if points}
        if not lines:
            continue
        chart = pygal.XY(
            width=520, height=260, style=CleanStyle, show_dots=len(series) < 30, dots_size=2, js=[],
            disable_xml_declaration=True, x_title="step", title=title, legend_at_bottom=True, truncate_legend=40,
        )
        for name, points in lines.items():
            chart.add(name, points)
        charts.append((title, chart.render(is_unicode=True)))
    return charts
