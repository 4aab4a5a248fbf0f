"""Metric charts rendered on the server as SVG (pygal): no JavaScript, nothing from a CDN.

Each SVG carries its own width and height (a bare viewBox renders 0x0 in a flex row); CSS may
shrink it to the page. Missing values (NaN or infinities, stored as NULL) are skipped.
"""

import pygal
from pygal.style import CleanStyle

from training import selectors
from training.models import Job

# Which logged metrics go on which chart; TRL's names differ a little between trainers.
CHARTS = {
    "Loss": ("loss", "eval_loss"),
    "Reward margin": ("rewards/margins", "margin"),
    "Accuracy": ("accuracy", "rewards/accuracies", "eval_accuracy"),
}
WIDTH, HEIGHT = 520, 260


def _render(title: str, lines: dict[str, list[tuple[int, float | None]]]) -> str:
    points = sum(len(p) for p in lines.values())
    chart = pygal.XY(
        width=WIDTH,
        height=HEIGHT,
        explicit_size=True,
        style=CleanStyle,
        show_dots=points < 30,
        dots_size=2,
        js=[],
        disable_xml_declaration=True,
        x_title="step",
        title=title,
        legend_at_bottom=True,
        truncate_legend=40,
    )
    for name, series in lines.items():
        chart.add(name, [(step, value) for step, value in series if value is not None])
    return chart.render(is_unicode=True)


def metric_charts(job: Job) -> list[tuple[str, str]]:
    """(title, svg) for each chart that has data in `job`'s metric rows."""
    charts = []
    series = selectors.metric_series(job, [name for names in CHARTS.values() for name in names])
    for title, names in CHARTS.items():
        lines = {name: series[name] for name in names if any(v is not None for _, v in series[name])}
        if lines:
            charts.append((title, _render(title, lines)))
    return charts


def metric_chart(job: Job, name: str) -> str | None:
    """The SVG of one metric of `job`; None when the job never logged it."""
    series = selectors.metric_series(job, [name])[name]
    return _render(name, {name: series}) if series else None
