"""Figure helpers shared by report sections: one look for every figure, and reproducible files.

Figures are drawn on ``matplotlib.figure.Figure`` objects directly, never through pyplot: that
needs no GUI backend and leaves no global state behind (the Agg canvas is used by ``savefig``).
Files carry no software/date metadata, so the same results give the same bytes.

Rules a section keeps when it uses these (so a figure never shows a made-up point): draw only
runs with status "ok", leave out a run without an honest x or y value, and write no file for a
figure without a point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report import facts

if TYPE_CHECKING:
    from greenprune.results import RunResult

#: variant label -> its (x, y) points, sorted by x
Series = dict[str, list[tuple[float, float]]]


def series(
    runs: list[RunResult],
    x: Callable[[RunResult], float | None],
    y: Callable[[RunResult], float | None],
) -> Series:
    """One line per variant (:func:`~greenprune.report.facts.variants`); runs without x or y are left out."""
    out: Series = {}
    labels = facts.variants(runs)
    for r in runs:
        xv, yv = x(r), y(r)
        if xv is not None and yv is not None:
            out.setdefault(labels[r.run_key], []).append((float(xv), float(yv)))
    return {k: sorted(v) for k, v in out.items()}


def axes() -> tuple[Any, Any]:
    """A 6.4 × 4 inch figure with one gridded axes: ``(figure, axes)``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def draw(ax: Any, lines: Series) -> None:
    """Each series as a line with point markers, labelled for the legend."""
    for label, points in lines.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", linewidth=1.5, label=label)


def percent_x(ax: Any) -> None:
    """Show a 0..1 x axis as percentages (sparsity)."""
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0))


def finish(fig: Any, ax: Any, title: str, path: Path) -> None:
    """Title, legend, and write ``path`` (:func:`save`)."""
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)


def save(fig: Any, path: Path) -> None:
    """Write ``fig`` as PNG without software/date metadata, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})


def slug(text: str) -> str:
    """``text`` as a file-name part: anything but letters, digits, ``._-`` becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


# ---------------------------------------------------------------------------------------------
# Training traces (``RunResult.traces[phase]``: one dict per logged step)
# ---------------------------------------------------------------------------------------------


def trace_xy(steps: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one trace key; steps that lack it or hold a non-finite value are skipped."""
    pts = [(float(s.get("step", i)), float(s[key])) for i, s in enumerate(steps)
           if isinstance(s.get(key), (int, float)) and math.isfinite(s[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def trace_marks(xs: list[float]) -> dict[str, Any]:
    """Plot keywords: markers on short traces (a run that logged once or twice would otherwise draw
    no line at all)."""
    return {"marker": "o", "markersize": 3} if len(xs) <= 20 else {}
