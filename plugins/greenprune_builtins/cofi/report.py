"""What reports say about CoFi's phases (its ``PhaseReport``): the meaning of its loss parts, its
controller's trace keys, the figure of its Lagrangian control, and how its final masks met the
target (shown under each run's per-layer sizes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from greenprune.api import FigureFile, GroupKey, PhaseReport
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot

if TYPE_CHECKING:
    from greenprune.api import PhaseRecord, RunResult

KIND = "compress:cofi"


def lambda_figures(key: GroupKey, runs: list[RunResult], stem: Path) -> list[FigureFile]:
    """lambda_1, lambda_2 and expected sparsity (with the target) over the steps of every CoFi phase."""
    traces = [(r, name, steps) for r, name, steps in facts.traces_of(runs, KIND)
              if any("lambda_1" in s for s in steps)]
    if not traces:
        return []
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 7.2), dpi=110, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for i, (r, name, steps) in enumerate(traces):
        colour = f"C{i % 10}"
        label = facts.run_label(r, runs) + ("" if name == KIND else f" ({name})")
        for ax, field in zip(axes, ("lambda_1", "lambda_2", "expected_sparsity"), strict=True):
            xs, ys = plot.trace_xy(steps, field)
            if xs:
                ax.plot(xs, ys, color=colour, linewidth=1.3, label=label if field == "lambda_1" else None,
                        **plot.trace_marks(xs))
        xs, ys = plot.trace_xy(steps, "target")
        if xs:
            axes[2].plot(xs, ys, color=colour, linewidth=1, linestyle="--", **plot.trace_marks(xs))
    for ax, title in zip(axes, ("λ1 (linear multiplier)", "λ2 (quadratic multiplier)",
                                "expected sparsity (solid) and target (dashed)"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[2].set_xlabel("training step")
    fig.suptitle(f"{key[1]}: CoFi Lagrangian control (teacher {key[0]})", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=7, ncols=2)
    path = Path(f"{stem}-cofi-lambdas.png")
    plot.save(fig, path)
    return [FigureFile(f"{key[0]} on {key[1]}: CoFi's Lagrange multipliers λ1, λ2 and the expected sparsity "
                       "against its (warming-up) target, per logged step of each cofi phase.", path)]


def landing(phase: PhaseRecord) -> list[str]:
    """How the phase's final masks met the target: the gates, CoFi's rule, the shift (if any)."""
    d = phase.details
    if "target_sparsity" not in d or "measured_sparsity_cofi_rule" not in d:
        return []
    shift = d.get("final_mask_shift") or 0.0
    landed = (f"final masks shifted by {shift:+.3g} (log-alpha of per-unit gates) to land on the target"
              if shift else "CoFi's per-group rule kept as is")
    if (d.get("align_widths") or 1) > 1:  # absent in results from before width alignment
        landed += f"; FFN and hidden widths rounded to multiples of {d['align_widths']}"
    return [f"{phase.name}: target {d['target_sparsity']:.3f}, measured {d['measured_sparsity_of_input']:.3f}"
            f" (of its input); gates' expected sparsity at the end {d['expected_sparsity_final']:.3f}, "
            f"CoFi's rule alone {d['measured_sparsity_cofi_rule']:.3f}; {landed}."]


PHASE_REPORT = PhaseReport(
    loss_parts={"hard": "task loss on the labels", "pred": "prediction distillation (CoFi)",
                "layer": "layer distillation (CoFi)", "lagrangian": "the Lagrangian sparsity penalty (CoFi)"},
    control_keys=frozenset({"target", "lambda_1", "lambda_2", "expected_sparsity"}),
    figures=lambda_figures,
    figures_summary="CoFi's λ1/λ2",
    notes=landing,
)
