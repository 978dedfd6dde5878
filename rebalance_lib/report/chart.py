"""The class-count bar chart of the report (PNG bytes, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from rebalance_lib.report.model import Report, shown_classes

# Above this spread between the largest and smallest bar a linear axis hides the minority.
_LOG_SCALE_SPREAD = 20


def class_counts_png(report: Report) -> bytes:
    """Bars per class shown (see ``shown_classes``): rows before, rows after, weighted total
    after."""
    shown, rest = shown_classes(report)
    labels = [str(c.label) for c in shown]
    series: dict[str, list[float]] = {
        "rows before": [c.rows_before for c in shown],
        "rows after": [c.rows_after for c in shown],
        "weighted total after": [c.weighted_total_after for c in shown],
    }
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        positions = [i + (index - 1) * width for i in range(len(labels))]
        axes.bar(positions, values, width=width, label=name)
    all_values = [v for values in series.values() for v in values if v > 0]
    if all_values and max(all_values) / min(all_values) > _LOG_SCALE_SPREAD:
        axes.set_yscale("log")
    axes.set_xticks(range(len(labels)), labels)
    more = f"; {len(rest):,} smaller classes not shown" if rest else ""
    axes.set_xlabel(f"class (minority: {report.batch.minority_label}{more})")
    axes.set_ylabel("rows")
    axes.set_title(
        f"Class counts, factor {report.factor:,.4g}: bias check {report.bias_check.verdict}"
    )
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
