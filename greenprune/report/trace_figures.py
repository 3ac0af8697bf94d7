"""Training-trace figures (PNG) for one (teacher, task) group: CoFi's Lagrange multipliers and
expected sparsity over steps, and the loss parts each compressor logged.

Traces are ``RunResult.traces[phase]``: one dict per logged step (``step`` plus loss parts and,
for CoFi, ``lagrangian``, ``expected_sparsity``, ``target``, ``lambda_1``, ``lambda_2``). A run
without the trace is simply not drawn; a figure with no line is not written.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report import facts
from greenprune.report.facts import GroupKey
from greenprune.report.figures import _slug

if TYPE_CHECKING:
    from greenprune.report import FigureFile
    from greenprune.results import RunResult

#: trace keys that are not loss parts
CONTROL_KEYS = {"step", "lr", "target", "lambda_1", "lambda_2", "expected_sparsity"}
#: what each known loss part is, for captions
PARTS = {
    "loss": "the total optimised",
    "hard": "task loss on the labels",
    "pred": "prediction distillation (CoFi)",
    "layer": "layer distillation (CoFi)",
    "kd": "prediction distillation (distill)",
    "hidden": "hidden-state distillation (distill)",
    "lagrangian": "the Lagrangian sparsity penalty (CoFi)",
}


def run_label(r: RunResult, runs: list[RunResult]) -> str:
    s = facts.target_sparsity(r)
    label = facts.variant(r, runs) + (f" @ {s * 100:.0f}%" if s is not None else "")
    if len({x.config.get("seed") for x in runs}) > 1:  # only name the seed when it tells runs apart
        label += f" seed {r.config.get('seed')}"
    return label


def phase_kind(name: str) -> str:
    """``compress:cofi#2`` -> ``compress:cofi``: a compressor used twice draws with its kind."""
    return re.sub(r"#\d+$", "", name)


def lambda_traces(key: GroupKey, runs: list[RunResult], path: Path) -> str | None:
    """lambda_1, lambda_2 and expected sparsity (with the target) over the steps of every CoFi phase."""
    traces = [(r, name, steps) for r in runs for name, steps in r.traces.items()
              if phase_kind(name) == "compress:cofi" and any("lambda_1" in s for s in steps)]
    if not traces:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 7.2), dpi=110, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for i, (r, name, steps) in enumerate(traces):
        colour = f"C{i % 10}"
        label = run_label(r, runs) + ("" if name == "compress:cofi" else f" ({name})")
        for ax, field in zip(axes, ("lambda_1", "lambda_2", "expected_sparsity"), strict=True):
            xs, ys = _xy(steps, field)
            if xs:
                ax.plot(xs, ys, color=colour, linewidth=1.3, label=label if field == "lambda_1" else None,
                        **_marks(xs))
        xs, ys = _xy(steps, "target")
        if xs:
            axes[2].plot(xs, ys, color=colour, linewidth=1, linestyle="--", **_marks(xs))
    for ax, title in zip(axes, ("λ1 (linear multiplier)", "λ2 (quadratic multiplier)",
                                "expected sparsity (solid) and target (dashed)"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[2].set_xlabel("training step")
    fig.suptitle(f"{key[1]}: CoFi Lagrangian control (teacher {key[0]})", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=7, ncols=2)
    _save(fig, path)
    return (f"{key[0]} on {key[1]}: CoFi's Lagrange multipliers λ1, λ2 and the expected sparsity against its "
            "(warming-up) target, per logged step of each cofi phase.")


def loss_part_figures(key: GroupKey, runs: list[RunResult], stem: Path) -> list[FigureFile]:
    """One figure per compressor kind (cofi, distill, ...): a panel per loss part, a line per run."""
    from greenprune.report import FigureFile

    kinds: dict[str, list[tuple[RunResult, str, list[dict[str, float]]]]] = {}
    for r in runs:
        for name, steps in r.traces.items():
            if name.startswith("compress:") and steps:
                kinds.setdefault(phase_kind(name), []).append((r, name, steps))
    out = []
    for kind, traces in kinds.items():
        parts = list(dict.fromkeys(k for _, _, steps in traces for s in steps for k in s if k not in CONTROL_KEYS))
        parts.sort(key=lambda p: (p != "loss", p not in PARTS, p))  # the total first, then known parts
        if not parts:
            continue
        path = Path(f"{stem}-{_slug(kind.replace(':', '-'))}.png")
        _loss_grid(key, kind, traces, parts, runs, path)
        meaning = "; ".join(f"{p}: {PARTS[p]}" for p in parts if p in PARTS)
        out.append(FigureFile(f"{key[0]} on {key[1]}: loss parts logged during {kind} per step ({meaning}).",
                              path))
    return out


def _loss_grid(key: GroupKey, kind: str, traces: list[tuple[RunResult, str, list[dict[str, float]]]],
               parts: list[str], runs: list[RunResult], path: Path) -> None:
    from matplotlib.figure import Figure

    cols = 2 if len(parts) > 1 else 1
    rows = math.ceil(len(parts) / cols)
    fig = Figure(figsize=(6.4, 1.2 + 2.1 * rows), dpi=110, layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for i, (r, name, steps) in enumerate(traces):
        label = run_label(r, runs) + ("" if name == kind else f" ({name})")
        for j, part in enumerate(parts):
            xs, ys = _xy(steps, part)
            if xs:
                axes[j].plot(xs, ys, color=f"C{i % 10}", linewidth=1.2, label=label if j == 0 else None,
                             **_marks(xs))
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
    _save(fig, path)


def _xy(steps: list[dict[str, float]], field: str) -> tuple[list[float], list[float]]:
    pts = [(float(s.get("step", i)), float(s[field])) for i, s in enumerate(steps)
           if isinstance(s.get(field), (int, float)) and math.isfinite(s[field])]
    return [p[0] for p in pts], [p[1] for p in pts]


def _marks(xs: list[float]) -> dict[str, Any]:
    """Markers on short traces: a run that logged once or twice would otherwise draw no line at all."""
    return {"marker": "o", "markersize": 3} if len(xs) <= 20 else {}


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
