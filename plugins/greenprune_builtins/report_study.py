"""The study report section: a sweep's trade-offs per (teacher, task).

First every method on one view (:mod:`greenprune_builtins.report_methods`: a table and a figure of
speed-up vs metric kept vs J/example). Figures (from :mod:`greenprune_builtins.report_study_figures` and
:mod:`greenprune_builtins.report_traces`): every task metric after compression and after tuning vs
sparsity (STS-B: Pearson and Spearman), inference energy and training time vs sparsity,
accuracy-vs-energy Pareto frontiers, the figures each compressor's phase report draws from its
traces (CoFi: its lambdas) and the loss parts over steps. Tables: the runs on each Pareto frontier, and per-layer
Q/K/V and FFN up-projection widths of every run side by side (removed blocks show as None).

A plugin of its own (entry point ``report-study``) so it can be disabled on its own
(``--disable report-study``) and so the built-in sections module stays small.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import MISSING, Component, Doc, FigureFile, Fmt, ReportInput, hardware_note, hookimpl
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_

if TYPE_CHECKING:
    from greenprune.api import RunResult


class Study:
    title = "Study: trade-offs across runs"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        from greenprune_builtins.report_methods import methods_table
        from greenprune_builtins.report_study_figures import energy_source, source_label

        doc, results = Doc(fmt), report.results
        if not results:
            return doc.para("No runs.", note=True).render()
        for key, runs in facts.grouped(results).items():
            ok = [r for r in runs if r.status == "ok"]
            doc.heading(f"Teacher {key[0]} on {key[1]}")
            if not ok:
                doc.para("No run of this group finished.", note=True)
                continue
            doc.bullets(_facts(ok))
            methods_table(doc, ok)
            source = energy_source(ok)
            if source is not None:
                doc.para(f"Runs on the Pareto frontier of {facts.primary_metric(ok[0]) or 'the metric'} vs "
                         f"energy per inference example ({source_label(ok, source)}):")
                doc.table(["Run", "Target sparsity", "Structured sparsity", "Unstructured sparsity", "Metric",
                           "J per example"], _frontier_rows(ok, source))
                for line in hardware_note(ok):
                    doc.para(line, note=True)
            _layer_tables(doc, ok)
        # The compressors' own trace figures are named by their phase reports (CoFi: "CoFi's λ1/λ2").
        shown = ["every method's speed-up vs metric kept vs J/example",
                 "metric vs sparsity after compression and after tuning",
                 "inference energy and training time vs sparsity", "Pareto frontiers",
                 *(s.figures_summary for s in report.phase_reports.values() if s.figures_summary)]
        doc.para(f"Figures follow: {', '.join(shown)} and loss parts per step. Size vs sparsity and speed-up vs "
                 "size are in the Comparison section.", note=True)
        return doc.render()

    def figures(self, report: ReportInput, fig_dir: Path) -> list[FigureFile]:
        from greenprune_builtins.report_study_figures import study_figures

        out: list[FigureFile] = []
        for key, runs in facts.grouped(report.results).items():
            out += study_figures(report, key, runs, fig_dir)
        return out


def _facts(ok: list[RunResult]) -> list[str]:
    variants = list(dict.fromkeys(facts.variants(ok).values()))
    sparsities = sorted({s for r in ok if (s := facts.target_sparsity(r)) is not None})
    seeds = sorted({str(r.config.get("seed")) for r in ok})
    return [f"Finished runs: {len(ok)}; variants (chain / tuner): {', '.join(variants)}",
            f"Target sparsities: {', '.join(f'{s:g}' for s in sparsities) or 'none (dense runs only)'}; "
            f"seeds: {', '.join(seeds)}"]


def _frontier_rows(ok: list[RunResult], source: str) -> list[list[str]]:
    from greenprune_builtins.report_study_figures import inference_joules, pareto_front

    primary, splits = facts.primary_metric(ok[0]), facts.dev_splits(ok)
    if primary is None or not splits:
        return []
    points: dict[tuple[float, float], RunResult] = {}
    for r in ok:
        x, y = inference_joules(r.student, source), facts.value(r.student, splits[0], primary)
        if x is not None and y is not None:
            points.setdefault((x, y), r)
    rows = []
    for x, y in pareto_front(list(points)):
        r = points[(x, y)]
        rows.append([facts.run_label(r, ok), fmt_.percent(facts.target_sparsity(r)),
                     fmt_.percent(facts.measured_sparsity(r.student)),
                     fmt_.percent(facts.unstructured_sparsity(r.student)), fmt_.metric(y), f"{fmt_.sig3(x)} J"])
    return rows


def _layer_tables(doc: Doc, ok: list[RunResult]) -> None:
    with_layers = [r for r in ok if r.student.size and r.student.size.layers]
    if not with_layers:
        doc.para("No run recorded per-layer sizes.", note=True)
        return
    # Rows are the teacher's layers: a layer-dropped student's layers sit in the rows of the teacher
    # layers they were copied from (its recorded layer map), not at their own 0..k-1 positions.
    columns: list[tuple[str, dict[int, dict[str, Any]]]] = []
    teacher = next((r.teacher.size.layers for r in with_layers if r.teacher.size and r.teacher.size.layers), None)
    if teacher:
        columns.append(("teacher", dict(enumerate(teacher))))
    labels = [facts.run_label(r, ok) for r in with_layers]
    remapped = False
    for r, label in zip(with_layers, labels, strict=True):
        unique = label if labels.count(label) == 1 else f"{label} ({r.run_key})"
        layers = r.student.size.layers if r.student.size else []
        origin = facts.teacher_layer_of(r, len(layers))
        remapped = remapped or origin is not None
        columns.append((unique, {(origin[i] if origin else i): d for i, d in enumerate(layers)}))
    depth = max(max(layers, default=-1) + 1 for _, layers in columns)
    headers = ["Teacher layer" if remapped else "Layer", *(name for name, _ in columns)]
    missing = "– : no such layer, or dropped by the student" if remapped else "– : no such layer"
    doc.para(f"Q/K/V output widths per layer (None: the attention block was removed; {missing}):")
    doc.table(headers, [[str(i), *(_qkv(layers, i) for _, layers in columns)] for i in range(depth)])
    doc.para("FFN up-projection width per layer (None: the feed-forward block was removed):")
    doc.table(headers, [[str(i), *(_ffn(layers, i) for _, layers in columns)] for i in range(depth)])


def _qkv(layers: dict[int, dict[str, Any]], i: int) -> str:
    if i not in layers:
        return MISSING
    dims = [layers[i].get(k) for k in ("q", "k", "v")]
    return "None" if all(d is None for d in dims) else "/".join("None" if d is None else str(d) for d in dims)


def _ffn(layers: dict[int, dict[str, Any]], i: int) -> str:
    if i not in layers or "ffn" not in layers[i]:
        return MISSING
    return str(layers[i]["ffn"])  # None prints as None: the block is gone


def sections() -> list[Component]:
    return [Component(name="study", factory=lambda _opts: Study(), order=500,
                      description="sweep trade-offs: every method on one view (table; speed-up x metric kept x "
                                  "J/example), metric/energy/time vs sparsity, Pareto, lambdas, "
                                  "loss parts, per-layer Q/K/V and FFN widths")]


@hookimpl
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    for component in sections():
        register(component)
