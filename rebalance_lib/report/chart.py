"""The class-count bar chart of the report, as SVG text drawn from the report alone.

Text rather than a raster image: no plotting library to import (about a second of every
run), and the chart is written wherever the report is, next to the table through Spark too.
"""

from __future__ import annotations

import math

from rebalance_lib.report.escape import svg_attribute, svg_text
from rebalance_lib.report.model import Report, shown_classes

# Above this spread between the largest and smallest bar a linear axis hides the minority.
_LOG_SCALE_SPREAD = 20
_WIDTH, _HEIGHT = 720, 420
_LEFT, _TOP, _PLOT_WIDTH, _PLOT_HEIGHT = 90, 50, 600, 280
_SERIES_COLOURS = ("#4c72b0", "#dd8452", "#55a868")


def class_counts_svg(report: Report) -> str:
    """Bars per class shown (see ``shown_classes``): rows before, rows after, weighted total
    after; a log axis when the bars differ more than 20-fold."""
    shown, rest = shown_classes(report)
    series: dict[str, list[float]] = {
        "rows before": [c.rows_before for c in shown],
        "rows after": [c.rows_after for c in shown],
        "weighted total after": [c.weighted_total_after for c in shown],
    }
    positive = [v for values in series.values() for v in values if v > 0] or [1.0]
    axis = _Axis.fitted(min(positive), max(positive))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
        _text(
            _WIDTH / 2,
            28,
            f"Class counts, factor {report.factor:,.4g}: bias check {report.bias_check.verdict}",
            size=15,
        ),
    ]
    parts += axis.ticks()
    slot = _PLOT_WIDTH / max(len(shown), 1)
    bar_width = slot * 0.8 / len(series)
    for class_index, section in enumerate(shown):
        slot_left = _LEFT + class_index * slot + slot * 0.1
        for series_index, (name, values) in enumerate(series.items()):
            height = axis.height(values[class_index])
            parts.append(
                f'<rect class="bar" data-series={svg_attribute(name)} '
                f"data-label={svg_attribute(section.label)} "
                f'data-value="{values[class_index]:g}" '
                f'x="{slot_left + series_index * bar_width:.1f}" '
                f'y="{_TOP + _PLOT_HEIGHT - height:.1f}" width="{bar_width:.1f}" '
                f'height="{height:.1f}" fill="{_SERIES_COLOURS[series_index]}">'
                f"<title>{svg_text(f'{name}, class {section.label}: {values[class_index]:,.6g}')}"
                "</title></rect>"
            )
        parts.append(
            _text(_LEFT + (class_index + 0.5) * slot, _TOP + _PLOT_HEIGHT + 18, section.label)
        )
    more = f"; {len(rest):,} smaller classes not shown" if rest else ""
    parts += [
        f'<line x1="{_LEFT}" y1="{_TOP + _PLOT_HEIGHT}" x2="{_LEFT + _PLOT_WIDTH}" '
        f'y2="{_TOP + _PLOT_HEIGHT}" stroke="black"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + _PLOT_HEIGHT}" stroke="black"/>',
        _text(
            _LEFT + _PLOT_WIDTH / 2,
            _TOP + _PLOT_HEIGHT + 40,
            f"class (minority: {report.batch.minority_label}{more})",
        ),
        _text(
            20, _TOP + _PLOT_HEIGHT / 2, "rows" + (" (log scale)" if axis.log else ""), rotate=True
        ),
    ]
    for index, name in enumerate(series):
        x = _LEFT + index * 200
        y = _HEIGHT - 22
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{_SERIES_COLOURS[index]}"/>'
        )
        parts.append(_text(x + 18, y, name, anchor="start"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


class _Axis:
    """The value axis: linear from 0, or log10 over whole powers of ten."""

    def __init__(self, low: float, high: float, log: bool) -> None:
        self.low, self.high, self.log = low, high, log

    @classmethod
    def fitted(cls, smallest: float, largest: float) -> _Axis:
        if largest / smallest > _LOG_SCALE_SPREAD:
            return cls(
                float(math.floor(math.log10(smallest))), float(math.ceil(math.log10(largest))), True
            )
        return cls(0.0, _round_up(largest), False)

    def height(self, value: float) -> float:
        if value <= 0:
            return 0.0
        position = math.log10(value) if self.log else value
        share = (position - self.low) / ((self.high - self.low) or 1.0)
        return max(0.0, min(1.0, share)) * _PLOT_HEIGHT

    def ticks(self) -> list[str]:
        if self.log:
            values = [10.0**power for power in range(int(self.low), int(self.high) + 1)]
        else:
            values = [self.high * step / 4 for step in range(5)]
        lines = []
        for value in values:
            y = _TOP + _PLOT_HEIGHT - self.height(value) if value > 0 else _TOP + _PLOT_HEIGHT
            lines.append(
                f'<line x1="{_LEFT - 4}" y1="{y:.1f}" x2="{_LEFT + _PLOT_WIDTH}" y2="{y:.1f}" '
                'stroke="#dddddd"/>'
            )
            lines.append(_text(_LEFT - 8, y + 4, f"{value:,.0f}", anchor="end"))
        return lines


def _round_up(value: float) -> float:
    """The next 1, 2 or 5 times a power of ten at or above ``value`` (the axis top)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _text(
    x: float,
    y: float,
    content: object,
    *,
    size: int = 12,
    anchor: str = "middle",
    rotate: bool = False,
) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{turn}>'
        f"{svg_text(content)}</text>"
    )
