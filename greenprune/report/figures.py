"""Trade-off figures (PNG) for one (teacher, task) group of runs.

Figures are drawn on ``matplotlib.figure.Figure`` objects directly, never through pyplot: that
needs no GUI backend and leaves no global state behind (the Agg canvas is used by ``savefig``).

Choices, so that the figures never show a made-up point:

* Only runs with status "ok" are drawn, one line per variant (compressor chain + tuner).
* The x position "sparsity" is the measured sparsity when the run recorded it, else the target
  sparsity it asked for; a run with neither is left out (it has no honest x position).
* A figure with no point at all is skipped (no file), e.g. when every run is dense and nothing
  recorded a sparsity.
* The teacher is a dashed reference line (or a star at speed-up 1.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report import facts
from greenprune.report.facts import GroupKey

if TYPE_CHECKING:
    from greenprune.report import FigureFile
    from greenprune.results import RunResult

Series = dict[str, list[tuple[float, float]]]


def group_figures(key: GroupKey, runs: list[RunResult], fig_dir: Path, prefix: str = "") -> list[FigureFile]:
    """Every figure this group has data for, written as ``fig_dir/<prefix><teacher>-<task>-*.png``."""
    from greenprune.report import FigureFile

    fig_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r in runs if r.status == "ok"]
    stem = f"{prefix}{_slug(key[0])}-{_slug(key[1])}"
    makers: list[tuple[str, Callable[[GroupKey, list[RunResult], Path], str | None]]] = [
        ("metric-vs-sparsity", metric_vs_sparsity),
        ("size-vs-sparsity", size_vs_sparsity),
        ("speedup-vs-size", speedup_vs_size),
    ]
    out = []
    for name, make in makers:
        path = fig_dir / f"{stem}-{name}.png"
        caption = make(key, ok, path) if ok else None
        if caption is not None:
            out.append(FigureFile(caption, path))
    return out


def metric_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    metric = facts.primary_metric(runs[0])
    splits = facts.dev_splits(runs)
    if metric is None or not splits:
        return None
    split = splits[0]
    series = _series(runs, facts.plot_sparsity, lambda r: facts.value(r.student, split, metric))
    if not series:
        return None
    teacher = facts.value(runs[0].teacher, split, metric)
    fig, ax = _axes()
    _draw(ax, series)
    if teacher is not None:
        ax.axhline(teacher, color="0.3", linestyle="--", linewidth=1, label=f"teacher ({teacher:.4f})")
    _percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel(f"{metric} ({split})")
    _finish(fig, ax, f"{key[1]}: {metric} vs sparsity (teacher {key[0]})", path)
    return f"{key[0]} on {key[1]}: {metric} on {split} vs sparsity, one line per compressor chain / tuner."


def size_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    series = _series(runs, facts.plot_sparsity,
                     lambda r: r.student.size.total_params / 1e6 if r.student.size else None)
    if not series:
        return None
    fig, ax = _axes()
    _draw(ax, series)
    teacher = runs[0].teacher.size
    if teacher is not None:
        ax.axhline(teacher.total_params / 1e6, color="0.3", linestyle="--", linewidth=1, label="teacher")
    _percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel("total parameters (millions)")
    _finish(fig, ax, f"{key[1]}: model size vs sparsity (teacher {key[0]})", path)
    return f"{key[0]} on {key[1]}: total parameters vs sparsity."


def speedup_vs_size(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    series = _series(runs, lambda r: r.student.size.total_params / 1e6 if r.student.size else None,
                     lambda r: facts.speedup(r, r.student))
    if not series:
        return None
    fig, ax = _axes()
    _draw(ax, series)
    teacher = runs[0].teacher.size
    if teacher is not None:
        ax.plot([teacher.total_params / 1e6], [1.0], marker="*", markersize=12, color="0.3",
                linestyle="none", label="teacher (1.0×)", zorder=1.5)
    ax.axhline(1.0, color="0.6", linestyle=":", linewidth=1)
    ax.set_xlabel("total parameters (millions)")
    ax.set_ylabel("speed-up vs teacher (median latency ratio)")
    _finish(fig, ax, f"{key[1]}: inference speed-up vs size (teacher {key[0]})", path)
    return (f"{key[0]} on {key[1]}: inference speed-up (teacher latency / student latency, same run) "
            "vs total parameters.")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _series(
    runs: list[RunResult],
    x: Callable[[RunResult], float | None],
    y: Callable[[RunResult], float | None],
) -> Series:
    out: Series = {}
    labels = facts.variants(runs)
    for r in runs:
        xv, yv = x(r), y(r)
        if xv is not None and yv is not None:
            out.setdefault(labels[r.run_key], []).append((float(xv), float(yv)))
    return {k: sorted(v) for k, v in out.items()}


def _axes() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _draw(ax: Any, series: Series) -> None:
    for label, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", linewidth=1.5, label=label)


def _percent_x(ax: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0))


def _finish(fig: Any, ax: Any, title: str, path: Path) -> None:
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    # No software/date metadata: the same results give the same bytes.
    fig.savefig(path, format="png", metadata={"Software": None})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"
