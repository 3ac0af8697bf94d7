"""Training-trace figures (PNG) for one (teacher, task) group, for the study section: the loss parts
each compressor logged, and the figures each compressor's phase report draws from its own traces.

Traces are ``RunResult.traces[phase]``: one dict per logged step. The training loop logs ``step``,
``lr`` and ``loss`` (the total optimised); a compressor adds its loss parts and controller state and
names them in its ``PhaseReport`` (``loss_parts``, ``control_keys``), so nothing here knows a
compressor. A run without a trace is simply not drawn; a figure with no line is not written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import FigureFile, GroupKey, ReportInput, phase_kind
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot

if TYPE_CHECKING:
    from greenprune.api import RunResult

#: what the training loop itself logs: keys that are not loss parts, and the total
LOOP_CONTROL_KEYS = frozenset({"step", "lr"})
LOOP_PARTS = {"loss": "the total optimised"}

Trace = tuple["RunResult", str, list[dict[str, float]]]


def trace_figures(report: ReportInput, key: GroupKey, runs: list[RunResult], stem: Path) -> list[FigureFile]:
    """The figures each compressor's and tuner's phase report draws for this group, in catalogue order."""
    out: list[FigureFile] = []
    for spec in report.phase_reports.values():
        if spec.figures is not None:
            out += spec.figures(key, runs, stem)
    return out


def loss_part_figures(report: ReportInput, key: GroupKey, runs: list[RunResult], stem: Path) -> list[FigureFile]:
    """One figure per compressor kind (cofi, distill, ...): a panel per loss part, a line per run."""
    kinds: dict[str, list[Trace]] = {}
    for r in runs:
        for name, steps in r.traces.items():
            if name.startswith("compress:") and steps:
                kinds.setdefault(phase_kind(name), []).append((r, name, steps))
    out = []
    for kind, traces in kinds.items():
        spec = report.phase_report(kind)
        known = {**LOOP_PARTS, **spec.loss_parts}
        control = LOOP_CONTROL_KEYS | spec.control_keys
        parts = list(dict.fromkeys(k for _, _, steps in traces for s in steps for k in s if k not in control))
        parts.sort(key=lambda p: (p != "loss", p not in known, p))  # the total first, then known parts
        if not parts:
            continue
        path = Path(f"{stem}-{plot.slug(kind.replace(':', '-'))}.png")
        _loss_grid(key, kind, traces, parts, runs, path)
        meaning = "; ".join(f"{p}: {known[p]}" for p in parts if p in known)
        out.append(FigureFile(f"{key[0]} on {key[1]}: loss parts logged during {kind} per step ({meaning}).",
                              path))
    return out


def _loss_grid(key: GroupKey, kind: str, traces: list[Trace], parts: list[str], runs: list[RunResult],
               path: Path) -> None:
    from matplotlib.figure import Figure

    cols = 2 if len(parts) > 1 else 1
    rows = math.ceil(len(parts) / cols)
    fig = Figure(figsize=(6.4, 1.2 + 2.1 * rows), dpi=110, layout="constrained")
    axes: Any = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for i, (r, name, steps) in enumerate(traces):
        label = facts.run_label(r, runs) + ("" if name == kind else f" ({name})")
        for j, part in enumerate(parts):
            xs, ys = plot.trace_xy(steps, part)
            if xs:
                axes[j].plot(xs, ys, color=f"C{i % 10}", linewidth=1.2, label=label if j == 0 else None,
                             **plot.trace_marks(xs))
    for ax, part in zip(axes, parts, strict=False):
        ax.set_title(part, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(parts):]:
        ax.set_visible(False)
    for ax in axes[max(0, len(parts) - cols):len(parts)]:  # the lowest panel of each column
        ax.set_xlabel("training step")
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(f"{key[1]}: loss parts during {kind} (teacher {key[0]})", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=7, ncols=2)
    plot.save(fig, path)
