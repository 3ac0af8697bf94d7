"""The "Energy payback" report section: per student, the energy its compression and tuning cost,
the energy it saves per inference example against its own run's teacher, and after how many
inference examples that pays back, with the method label and the range over the repeated
inference windows. All of it is derived from the results at render time
(:mod:`greenprune.payback`); nothing here is a new measurement.

A plugin of its own (entry point ``report-payback``), so it can be disabled alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from greenprune.api import (
    MISSING,
    Component,
    Doc,
    FigureFile,
    Fmt,
    Payback,
    ReportInput,
    hardware_note,
    hookimpl,
    payback,
)
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as figures
from greenprune.api import report_markup as markup

if TYPE_CHECKING:
    from greenprune.api import RunResult

HEADERS = ["Student", "Target sparsity", "Measured sparsity", "Compression + tuning energy",
           "Teacher J / example", "Student J / example", "Saved J / example [range]", "Pays back after (examples)",
           "Method, sensor"]


def _label(r: RunResult, labels: dict[str, str]) -> str:
    return f"{labels[r.run_key]} (run {r.run_key})"


def _saved(pb: Payback) -> str:
    if pb.saved_per_example_j is None:
        return MISSING
    text = markup.joules(pb.saved_per_example_j, pb.method)
    if pb.saved_low_j is not None and pb.saved_high_j is not None:
        text += f" [{markup.sig3(pb.saved_low_j)}–{markup.sig3(pb.saved_high_j)}]"
    return text


def _examples(pb: Payback) -> str:
    if pb.examples is None:
        return "never" if pb.saved_per_example_j is not None and pb.saved_per_example_j <= 0 else MISSING
    low = MISSING if pb.examples_low is None else f"{pb.examples_low:,.0f}"
    high = "never" if pb.examples_high is None else f"{pb.examples_high:,.0f}"
    return f"{pb.examples:,.0f} [{low}–{high}]"


def _median(r: RunResult, who: str, source: str) -> str:
    rep = r.teacher if who == "teacher" else r.student
    spread = rep.inference.energy_per_example.get(source) if rep.inference else None
    return MISSING if spread is None else markup.joules(spread.median_j, spread.method)


def _rows(runs: list[RunResult]) -> list[list[str]]:
    labels = facts.variants(runs)
    rows = []
    for r in runs:
        for pb in payback(r):
            cost = markup.joules(pb.cost_j, pb.method) + (" (reused from cache)" if pb.cost_reused else "")
            rows.append([_label(r, labels), markup.percent(facts.target_sparsity(r)),
                         markup.percent(facts.measured_sparsity(r.student)), cost, _median(r, "teacher", pb.source),
                         _median(r, "student", pb.source), _saved(pb), _examples(pb), f"{pb.method}, {pb.source}"])
    return rows


class PaybackSection:
    title = "Energy payback"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc = Doc(fmt)
        any_rows = False
        for key, runs in facts.grouped(report.results).items():
            ok = [r for r in runs if r.status == "ok"]
            rows = _rows(ok)
            if not rows:
                continue
            any_rows = True
            doc.heading(f"Teacher {key[0]} on {key[1]}")
            doc.table(HEADERS, rows)
            for line in hardware_note(ok):
                doc.para(line, note=True)
        if not any_rows:
            return doc.para("No run measured inference energy for both teacher and student.", note=True).render()
        doc.para("Derived, not measured: compression + tuning energy = total J of the run's compress:* and tune:* "
                 "phases on that meter and sensor (the teacher's fine-tune is not counted: the teacher exists "
                 "either way); saved J / example = the teacher's median J per inference example minus the "
                 "student's, both from the same run's alternated windows, with the range pairing the teacher's "
                 "lowest window with the student's highest and the other way round; pays back after = energy / "
                 "saving, the number of inference examples the student must serve instead of the teacher to "
                 "recover its compression energy [range from the saving's range; \"never\" where the worst "
                 "windows save nothing]. Each figure keeps its meter's method (≈ marks estimates); meters are "
                 "never added to each other.", note=True)
        return doc.render()

    def figures(self, report: ReportInput, fig_dir: Path) -> list[FigureFile]:
        out = []
        for key, runs in facts.grouped(report.results).items():
            path = fig_dir / f"payback-{figures.slug(key[0])}-{figures.slug(key[1])}.png"
            caption = payback_figure(key, [r for r in runs if r.status == "ok"], path)
            if caption is not None:
                out.append(FigureFile(caption, path))
        return out


def payback_figure(key: tuple[str, str], runs: list[RunResult], path: Path) -> str | None:
    """Net energy saved against examples served, one line per student (first meter source it has),
    shaded over the saving's range; each line crosses zero where the student pays back."""
    curves = [(r, pb) for r in runs for pb in payback(r)[:1]
              if pb.cost_j is not None and pb.saved_per_example_j is not None]
    if not curves:
        return None
    finite = [pb.examples for _, pb in curves if pb.examples is not None]
    x_max = 2 * max(finite) if finite else 1000.0
    fig, ax = figures.axes()
    labels = facts.variants(runs)
    xs = [x_max * i / 100 for i in range(101)]
    methods = set()
    for r, pb in curves:
        cost = pb.cost_j or 0.0
        saved = pb.saved_per_example_j
        if saved is None:  # no saving measured: no curve to draw
            continue
        name = labels[r.run_key] + (f" @ {facts.target_sparsity(r):g}" if facts.target_sparsity(r) is not None else "")
        (line,) = ax.plot(xs, [n * saved - cost for n in xs], linewidth=1.5, label=name)
        if pb.saved_low_j is not None and pb.saved_high_j is not None:
            ax.fill_between(xs, [n * pb.saved_low_j - cost for n in xs], [n * pb.saved_high_j - cost for n in xs],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        if pb.examples is not None:
            ax.plot([pb.examples], [0.0], marker="o", color=line.get_color())
        methods.add(pb.method)
    ax.axhline(0.0, color="0.3", linewidth=1)
    ax.set_xlabel("inference examples served by the student instead of the teacher")
    label = "/".join(sorted(methods))
    ax.set_ylabel(f"net energy saved (J, {label})")
    figures.finish(fig, ax, f"{key[1]}: energy payback of compression (teacher {key[0]})", path)
    return (f"{key[0]} on {key[1]}: net energy saved (saving per example × examples − compression and tuning "
            f"energy) against examples served; a dot where it pays back, the band spans the inference windows' "
            f"range. Derived from {label} figures" + (" (ESTIMATES)" if "estimate" in label else "") + ".")


@hookimpl
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    # After the comparison (200) and before the phases (300): cost and saving read together.
    register(Component("payback", factory=lambda _opts: PaybackSection(), order=250,
                       description="per student: compression energy, J per example saved, inference examples "
                                   "until it pays back (derived), with a figure"))

