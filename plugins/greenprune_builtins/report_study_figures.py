"""Study figures (PNG) for one (teacher, task) group of a sweep: quality after compression and
after tuning, inference energy and training time against sparsity, and accuracy-vs-energy Pareto
frontiers; then the figures each compressor's phase report draws from its traces (CoFi: its
lambdas), and the loss parts of every compressor's trace (:mod:`greenprune_builtins.report_traces`).

The rules of the report's figure helpers: only ok runs, x = measured sparsity (else the target),
no figure without a point, and energy never added across meters. Every energy axis names
its meter, what it covers and its method, and estimates say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import FigureFile, GroupKey, ReportInput
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot

if TYPE_CHECKING:
    from greenprune.api import ModelReport, RunResult

Maker = Callable[[GroupKey, list["RunResult"], Path], "str | None"]


def study_figures(report: ReportInput, key: GroupKey, runs: list[RunResult], fig_dir: Path,
                  prefix: str = "study-") -> list[FigureFile]:
    """Every study figure this group has data for, as ``fig_dir/<prefix><teacher>-<task>-*.png``."""
    from greenprune_builtins.report_methods_figures import methods_view
    from greenprune_builtins.report_traces import loss_part_figures, trace_figures

    fig_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r in runs if r.status == "ok"]
    if not ok:
        return []
    stem = fig_dir / f"{prefix}{plot.slug(key[0])}-{plot.slug(key[1])}"
    makers: list[tuple[str, Maker]] = [("methods", methods_view)]
    makers += [(f"{plot.slug(m)}-vs-sparsity", _metric_maker(m)) for m in facts.metric_names(ok)]
    makers += [("inference-energy-vs-sparsity", inference_energy_vs_sparsity),
               ("training-time-vs-sparsity", training_time_vs_sparsity),
               ("pareto-inference-energy", pareto_inference), ("pareto-training-energy", pareto_training)]
    out = []
    for name, make in makers:
        path = Path(f"{stem}-{name}.png")
        caption = make(key, ok, path)
        if caption is not None:
            out.append(FigureFile(caption, path))
    return out + trace_figures(report, key, ok, stem) + loss_part_figures(report, key, ok, Path(f"{stem}-loss"))


def colours(runs: list[RunResult]) -> dict[str, str]:
    """One colour per variant, in reading order, so every figure of a group agrees."""
    return {v: f"C{i % 10}" for i, v in enumerate(dict.fromkeys(facts.variants(runs).values()))}


# ---------------------------------------------------------------------------------------------
# Against sparsity
# ---------------------------------------------------------------------------------------------


def _metric_maker(metric: str) -> Maker:
    def make(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
        return metric_vs_sparsity(key, runs, path, metric)

    return make


def metric_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path, metric: str) -> str | None:
    """One task metric after compression (dashed, hollow) and after tuning (solid), per variant."""
    splits = facts.dev_splits(runs)
    if not splits:
        return None
    split = splits[0]
    after = plot.series(runs, facts.plot_sparsity, lambda r: facts.value(r.student, split, metric))
    before = plot.series(runs, facts.plot_sparsity, lambda r: facts.value(r.student_after_compress, split, metric))
    if not after and not before:
        return None
    fig, ax = plot.axes()
    col = colours(runs)
    for variant, pts in before.items():
        ax.plot(*zip(*pts, strict=True), color=col[variant], linestyle="--", marker="o", markerfacecolor="none",
                linewidth=1, label=f"{variant}: after compression")
    for variant, pts in after.items():
        ax.plot(*zip(*pts, strict=True), color=col[variant], marker="o", linewidth=1.5,
                label=f"{variant}: after tuning")
    teacher = facts.value(runs[0].teacher, split, metric)
    if teacher is not None:
        ax.axhline(teacher, color="0.3", linestyle=":", linewidth=1, label=f"teacher ({teacher:.4f})")
    plot.percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel(f"{metric} ({split})")
    plot.finish(fig, ax, f"{key[1]}: {metric} after compression and after tuning", path)
    return (f"{key[0]} on {key[1]}: {metric} on {split} vs sparsity; dashed = right after compression, "
            "solid = after the tuner.")


def inference_energy_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    source = energy_source(runs)
    if source is None:
        return None
    pts = plot.series(runs, facts.plot_sparsity, lambda r: inference_joules(r.student, source))
    if not pts:
        return None
    fig, ax = plot.axes()
    _lines(ax, pts, colours(runs))
    teacher = inference_joules(runs[0].teacher, source)
    if teacher is not None:
        ax.axhline(teacher, color="0.3", linestyle=":", linewidth=1, label="teacher")
    plot.percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel(f"J per inference example\n{source_label(runs, source)}", fontsize=8)
    plot.finish(fig, ax, f"{key[1]}: inference energy per example vs sparsity", path)
    return (f"{key[0]} on {key[1]}: energy per inference example vs sparsity, {source_label(runs, source)} "
            "(one meter, never summed with another).")


def training_time_vs_sparsity(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    # A phase served from the cache timed loading, not training: such runs are left out.
    fresh = [r for r in runs if not facts.phase_seconds(r, facts.TRAIN_PHASES["student"])[1]]
    pts = plot.series(fresh, facts.plot_sparsity, lambda r: facts.phase_seconds(r, facts.TRAIN_PHASES["student"])[0])
    if not pts:
        return None
    fig, ax = plot.axes()
    _lines(ax, pts, colours(runs))
    plot.percent_x(ax)
    ax.set_xlabel("sparsity (measured; target where not measured)")
    ax.set_ylabel("training wall time (s): compress + tune phases")
    plot.finish(fig, ax, f"{key[1]}: training time vs sparsity", path)
    left_out = len(runs) - len(fresh)
    note = f" {left_out} run(s) reused a cached model and are not shown." if left_out else ""
    return f"{key[0]} on {key[1]}: wall time of the compress:* and tune:* phases vs sparsity.{note}"


# ---------------------------------------------------------------------------------------------
# Pareto frontiers: primary metric vs energy (lower energy and higher metric are better)
# ---------------------------------------------------------------------------------------------


def pareto_inference(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    source = energy_source(runs)
    if source is None:
        return None
    label = f"J per inference example, {source_label(runs, source)}"
    teacher = inference_joules(runs[0].teacher, source)
    return _pareto(key, runs, path, lambda r: inference_joules(r.student, source), label, teacher=teacher,
                   what="energy per inference example", short="inference energy")


def pareto_training(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    source = training_source(runs)
    if source is None:
        return None
    meter, covers = source
    method = "/".join(dict.fromkeys(e.method for r in runs for p in r.phases for e in p.energy
                                    if (e.meter, e.covers) == source))
    label = f"training J (compress + tune), {meter}: {covers}, {_method_text(method)}"
    return _pareto(key, runs, path, lambda r: training_joules(r, source), label, teacher=None,
                   what="total training energy of the compress:* and tune:* phases", short="training energy")


def _pareto(key: GroupKey, runs: list[RunResult], path: Path, energy: Callable[[RunResult], float | None],
            xlabel: str, teacher: float | None, what: str, short: str) -> str | None:
    metric, splits = facts.primary_metric(runs[0]), facts.dev_splits(runs)
    if metric is None or not splits:
        return None
    pts = [(x, y, r) for r in runs
           if (x := energy(r)) is not None and (y := facts.value(r.student, splits[0], metric)) is not None]
    if not pts:
        return None
    fig, ax = plot.axes()
    col, labels = colours(runs), facts.variants(runs)
    for variant in col:
        mine = [(x, y) for x, y, r in pts if labels[r.run_key] == variant]
        if mine:
            ax.scatter(*zip(*mine, strict=True), color=col[variant], label=variant, zorder=3)
    front = pareto_front([(x, y) for x, y, _ in pts])
    # Rings as well as the line: a frontier of one point draws no line.
    ax.step(*zip(*front, strict=True), where="post", color="0.2", linewidth=1, zorder=2)
    ax.scatter(*zip(*front, strict=True), s=150, facecolors="none", edgecolors="0.2", label="Pareto frontier",
               zorder=4)
    tval = facts.value(runs[0].teacher, splits[0], metric)
    if teacher is not None and tval is not None:
        ax.scatter([teacher], [tval], marker="*", s=120, color="0.3", label="teacher", zorder=3)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(f"{metric} ({splits[0]})")
    plot.finish(fig, ax, f"{key[1]}: {metric} vs {short} (Pareto)", path)
    return (f"{key[0]} on {key[1]}: {metric} vs {what}; the line joins the runs no other run beats on both "
            "(higher metric, less energy).")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points not dominated by another (less or equal energy with a higher metric), by energy."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


# ---------------------------------------------------------------------------------------------
# Energy sources: one meter and what it covers per figure
# ---------------------------------------------------------------------------------------------


def energy_source(runs: list[RunResult]) -> str | None:
    """The ``energy_per_example_j`` key (``meter:covers``, or ``meter``) with a figure for the most
    students; measured meters win ties over estimates."""
    count: Counter[str] = Counter(k for r in runs if r.student.inference
                                  for k, v in r.student.inference.energy_per_example_j.items() if v is not None)
    if not count:
        return None
    return max(count, key=lambda k: (count[k], "estimate" not in (_source_method(runs, k) or "")))


def inference_joules(rep: ModelReport, source: str) -> float | None:
    return rep.inference.energy_per_example_j.get(source) if rep.inference else None


def source_label(runs: list[RunResult], source: str) -> str:
    name, _, covers = source.partition(":")
    return f"{name}: {covers or 'all it covers'}, {_method_text(_source_method(runs, source))}"


def _source_method(runs: list[RunResult], source: str) -> str | None:
    for r in runs:
        method, _ = facts.meter_method(r, source, r.student)
        if method:
            return method
    return None


def _method_text(method: str | None) -> str:
    if not method:
        return "method not recorded"
    if method == "estimate":
        return "≈ ESTIMATE, not a measurement"
    return f"partly ≈ ESTIMATED ({method})" if "estimate" in method.split("/") else f"measured: {method}"


def training_source(runs: list[RunResult]) -> tuple[str, str] | None:
    """The (meter, covers) with a full training-energy figure for the most runs, measured first."""
    methods = {(e.meter, e.covers): e.method for r in runs for p in r.phases for e in p.energy}
    count = {s: n for s in methods if (n := sum(training_joules(r, s) is not None for r in runs))}
    if not count:
        return None
    return max(count, key=lambda s: (count[s], methods[s] != "estimate"))


def training_joules(r: RunResult, source: tuple[str, str]) -> float | None:
    """Joules of one (meter, covers) over the compress:* and tune:* phases; ``None`` when a phase
    has no figure or was served from the cache (its energy is loading, not training)."""
    phases = [p for p in r.phases if p.name.startswith(facts.TRAIN_PHASES["student"])]
    if not phases or any(p.cache_hit for p in phases):
        return None
    total = 0.0
    for p in phases:
        mine = [e.joules for e in p.energy if (e.meter, e.covers) == source]
        if not mine or any(j is None for j in mine):
            return None
        total += sum(j for j in mine if j is not None)
    return total


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _lines(ax: Any, series: dict[str, list[tuple[float, float]]], col: dict[str, str]) -> None:
    for variant, pts in series.items():
        ax.plot(*zip(*pts, strict=True), color=col[variant], marker="o", linewidth=1.5, label=variant)
