"""The comparison section's figures (PNG) for one (teacher, task) group of runs: metric and size
against sparsity, speed-up against size.

Choices, so that the figures never show a made-up point:

* Only runs with status "ok" are drawn, one line per variant (compressor chain + tuner).
* The x position "sparsity" is the measured sparsity when the run recorded it, else the target
  sparsity it asked for; a run with neither is left out (it has no honest x position).
* A figure with no point at all is skipped (no file), e.g. when every run is dense and nothing
  recorded a sparsity.
* The teacher is a dashed reference line (or a star at speed-up 1.0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from greenprune.api import FigureFile, GroupKey
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot

if TYPE_CHECKING:
    from greenprune.api import RunResult


def group_figures(key: GroupKey, runs: list[RunResult], fig_dir: Path, prefix: str = "") -> list[FigureFile]:
    """Every figure this group has data for, written as ``fig_dir/<prefix><teacher>-<task>-*.png``."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r in runs if r.status == "ok"]
    stem = f"{prefix}{plot.slug(key[0])}-{plot.slug(key[1])}"
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
    series = plot.series(runs, facts.plot_sparsity, lambda r: facts.value(r.student, split, metric))
    if not series:
        return None
    teacher = facts.value(runs[0].teacher, split, metric)
    fig, ax = plot.axes()
    plot.draw(ax, series)
    if teacher is not None:
        ax.axhline(teacher, color="0.3", linestyle="--", linewidth=1, label=f"teacher ({teacher:.4f})")
    plot.percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel(f"{metric} ({split})")
    plot.finish(fig, ax, f"{key[1]}: {metric} vs sparsity (teacher {key[0]})", path)
    return f"{key[0]} on {key[1]}: {metric} on {split} vs sparsity, one line per compressor chain / tuner."


def size_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    series = plot.series(runs, facts.plot_sparsity,
                         lambda r: r.student.size.total_params / 1e6 if r.student.size else None)
    if not series:
        return None
    fig, ax = plot.axes()
    plot.draw(ax, series)
    teacher = runs[0].teacher.size
    if teacher is not None:
        ax.axhline(teacher.total_params / 1e6, color="0.3", linestyle="--", linewidth=1, label="teacher")
    plot.percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel("total parameters (millions)")
    plot.finish(fig, ax, f"{key[1]}: model size vs sparsity (teacher {key[0]})", path)
    return f"{key[0]} on {key[1]}: total parameters vs sparsity."


def speedup_vs_size(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    series = plot.series(runs, lambda r: r.student.size.total_params / 1e6 if r.student.size else None,
                         lambda r: facts.speedup(r, r.student))
    if not series:
        return None
    fig, ax = plot.axes()
    plot.draw(ax, series)
    teacher = runs[0].teacher.size
    if teacher is not None:
        ax.plot([teacher.total_params / 1e6], [1.0], marker="*", markersize=12, color="0.3",
                linestyle="none", label="teacher (1.0×)", zorder=1.5)
    ax.axhline(1.0, color="0.6", linestyle=":", linewidth=1)
    ax.set_xlabel("total parameters (millions)")
    ax.set_ylabel("speed-up vs teacher (median latency ratio)")
    plot.finish(fig, ax, f"{key[1]}: inference speed-up vs size (teacher {key[0]})", path)
    return (f"{key[0]} on {key[1]}: inference speed-up (teacher latency / student latency, same run) "
            "vs total parameters.")
