"""The study's one view of every method (PNG): x = measured speed-up over the run's own teacher,
y = primary metric kept (% of that teacher), colour = J per inference example of one meter source
(named on the colour bar with its method), each point labelled with its method
(:func:`greenprune_builtins.report_methods.method_labels`). The teacher is the star at 1×, 100%.

Only ok runs with both a speed-up and a metric are drawn; a run without an energy figure is drawn
hollow (grey edge) rather than left out or given a made-up colour.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import GroupKey, hardware
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot

if TYPE_CHECKING:
    from greenprune.api import RunResult


def methods_view(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    from greenprune_builtins.report_methods import method_labels
    from greenprune_builtins.report_study_figures import energy_source, inference_joules, source_label

    metric, splits = facts.primary_metric(runs[0]), facts.dev_splits(runs)
    if metric is None or not splits:
        return None
    source, labels = energy_source(runs), method_labels(runs)
    pts = [(up, share * 100, inference_joules(r.student, source) if source else None, labels[r.run_key])
           for r in runs
           if (up := facts.speedup(r, r.student)) is not None
           and (share := facts.metric_kept(r, r.student, splits[0])) is not None]
    if not pts:
        return None
    area = _areas(runs)
    fig, ax = plot.axes()
    fig.set_size_inches(8.0, 5.0)
    coloured = [(x, y, j, area.get(label, 60.0)) for x, y, j, label in pts if j is not None]
    teacher_j = inference_joules(runs[0].teacher, source) if source else None
    teacher_style: dict[str, Any] = {"color": "0.3"}
    if coloured:
        values = [p[2] for p in coloured] + ([teacher_j] if teacher_j is not None else [])
        scale = {"cmap": "viridis", "vmin": min(values), "vmax": max(values)}
        dots = ax.scatter([p[0] for p in coloured], [p[1] for p in coloured], c=[p[2] for p in coloured],
                          s=[p[3] for p in coloured], zorder=3, edgecolors="0.2", **scale)
        bar = fig.colorbar(dots, ax=ax, pad=0.01)
        bar.set_label(f"J per inference example\n{source_label(runs, source)}" if source else "", fontsize=7)
        bar.ax.tick_params(labelsize=7)
        if teacher_j is not None:  # the teacher on the same colour scale
            teacher_style = {"c": [teacher_j], "edgecolors": "0.2", **scale}
    hollow = [p for p in pts if p[2] is None]
    if hollow:
        ax.scatter([p[0] for p in hollow], [p[1] for p in hollow], s=[area.get(p[3], 60.0) for p in hollow],
                   facecolors="none", edgecolors="0.4",
                   zorder=3, label="no energy figure")
    ax.scatter([1.0], [100.0], marker="*", s=180, zorder=4, label="teacher (1×, 100%)", **teacher_style)
    # Labels alternate above and below their point in x order, so neighbours overlap less, and sit left
    # of the points in the right half, so they stay inside the axes.
    import math

    logs = [math.log(p[0]) for p in pts] + [0.0]
    middle = (min(logs) + max(logs)) / 2
    for i, (x, y, _, label) in enumerate(sorted(pts)):
        right = math.log(x) > middle
        text = ax.annotate(_short(label, labels), (x, y), xytext=(-4 if right else 4, 5 if i % 2 == 0 else -9),
                           textcoords="offset points", fontsize=6, ha="right" if right else "left")
        text.set_in_layout(False)
    # Speed-ups are ratios: a log axis shows 0.5× and 2× equally far from the teacher.
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}×"))
    ax.axhline(100.0, color="0.5", linestyle=":", linewidth=1)
    ax.axvline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("speed-up over the run's own teacher (median latency, same run; log scale)")
    ax.set_ylabel(f"{metric} kept, % of teacher ({splits[0]})")
    plot.finish(fig, ax, f"{key[1]}: every method: speed-up, {metric} kept, J/example", path)
    sized = "marker area = the model's weights in memory, relative to the teacher's; " if area else ""
    energy = f"colour = J per inference example, {source_label(runs, source)}" if coloured and source else \
        "no run has an energy figure"
    setups = len({hardware(r) for r in runs})
    mixed = (f" The runs were measured on {setups} hardware set-ups: speed-ups are within-run ratios, but J/example "
             "compares only between runs of one set-up (the note under the table names them).") if setups > 1 else ""
    return (f"{key[0]} on {key[1]}: every method at once: measured speed-up vs {metric} kept (% of the run's "
            f"teacher, after all phases); {sized}{energy}; each point names its method (the table above gives each in "
            f"full).{mixed}")


def _short(label: str, labels: dict[str, str]) -> str:
    """A point's label without the settings in parentheses when no other method shares that stem."""
    stem = label.split(" (", 1)[0]
    return stem if sum(v.split(" (", 1)[0] == stem for v in labels.values()) == 1 else label


def _areas(runs: list[RunResult]) -> dict[str, float]:
    """Per method label, a marker area in proportion to the student's weights in memory over its run's
    teacher's (100 = the teacher's bytes); empty (one size for all) unless every run recorded both."""
    from greenprune_builtins.report_methods import method_labels

    labels, out = method_labels(runs), {}
    for r in runs:
        mine, teacher = (rep.inference.memory.weight_bytes if rep.inference and rep.inference.memory else None
                         for rep in (r.student, r.teacher))
        if not mine or not teacher:
            return {}
        out[labels[r.run_key]] = max(12.0, 100.0 * mine / teacher)
    return out
