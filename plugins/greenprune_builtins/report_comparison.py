"""The built-in "comparison" report section: the teacher against every run of its group, on task
metrics (with Δ to its own run's teacher), size, measured sparsity, latency, speed-up, energy per
inference example and training time; figures of metric, size and speed-up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from greenprune.api import MISSING, Doc, FigureFile, Fmt, ReportInput, hardware_note
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_
from greenprune_builtins.report_common import group_heading, no_runs, run_heading

if TYPE_CHECKING:
    from greenprune.api import ModelReport, RunResult


class Comparison:
    title = "Comparison"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc, results = Doc(fmt), report.results
        if not results:
            return no_runs(doc)
        for key, runs in facts.grouped(results).items():
            doc.heading(group_heading(key, runs))
            ok = [r for r in runs if r.status == "ok"]
            ref = facts.first_ok(runs)
            if ref is not None:
                rows = _model_rows(ref, ok)
                self._quality(doc, runs, rows)
                self._cost(doc, ok, rows)
                for line in hardware_note(ok):  # latencies from different machines: say so, name each
                    doc.para(line, note=True)
                if any(r.teacher.metrics != ref.teacher.metrics for r in ok):
                    doc.para(f"Teacher metrics differ between runs of this group; the teacher rows show "
                             f"run {ref.run_key}'s teacher, and each Δ and speed-up uses its own run's "
                             "teacher.", note=True)
            else:
                doc.para("No run of this group finished.", note=True)
            _failed(doc, runs)
        return doc.render()

    def figures(self, report: ReportInput, fig_dir: Path) -> list[FigureFile]:
        from greenprune_builtins.report_comparison_figures import group_figures

        out: list[FigureFile] = []
        for key, runs in facts.grouped(report.results).items():
            out += group_figures(key, runs, fig_dir, prefix="comparison-")
        return out

    @staticmethod
    def _quality(doc: Doc, runs: list[RunResult], rows: list[_Row]) -> None:
        splits, metrics = facts.dev_splits(runs), facts.metric_names(runs)
        primary = facts.primary_metric(rows[0].run)
        # Only (split, metric) pairs some model reports: no column of dashes.
        cols = [(s, m) for s in splits for m in metrics
                if any(facts.value(row.rep, s, m) is not None for row in rows)]
        delta_splits = [s for s in splits if (s, primary) in cols]
        headers = [*_row_head(rows), *(f"{s} {m}" for s, m in cols), *(f"Δ {primary} ({s})" for s in delta_splits)]
        table = []
        for row in rows:
            cells = [fmt_.metric(facts.value(row.rep, s, m)) for s, m in cols]
            if row.model == "teacher":
                deltas = ["ref"] * len(delta_splits)
            else:
                deltas = [fmt_.delta(facts.primary_delta(row.run, row.rep, s)) for s in delta_splits]
            table.append([*row.head(), *cells, *deltas])
        doc.para("Task metrics on the dev splits:")
        doc.table(headers, table)
        doc.para("Δ = the model's primary metric minus its own run's teacher, on the same split.", note=True)

    @staticmethod
    def _cost(doc: Doc, ok: list[RunResult], rows: list[_Row]) -> None:
        headers = [*_row_head(rows), "Encoder params", "Total params", "Size (MB)", "Stored as", "Structured sparsity",
                   "Unstructured sparsity",
                   "Latency median (ms)", "Speed-up", "Energy / inference example", "Training time"]
        table = []
        for row in rows:
            size, inf = row.rep.size, row.rep.inference
            up = facts.speedup(row.run, row.rep)
            table.append([
                *row.head(),
                fmt_.count(size.encoder_params if size else None),
                fmt_.count(size.total_params if size else None),
                fmt_.megabytes(size.bytes_on_disk if size else None),
                facts.stored_as(row.rep) or MISSING,
                fmt_.percent(facts.measured_sparsity(row.rep)),
                fmt_.percent(facts.unstructured_sparsity(row.rep)),
                MISSING if inf is None else f"{inf.latency_ms_median:.2f}",
                MISSING if up is None else f"{up:.2f}×",
                _energy_per_example(row.run, row.rep),
                _training_time(row),
            ])
        doc.para("Size, speed, energy and time:")
        doc.table(headers, table)
        settings = sorted({(rep.inference.batch_size, rep.inference.seq_length, rep.inference.repeats)
                           for r in ok for rep in (r.teacher, r.student) if rep.inference})
        bench = "; ".join(f"batch {b}, sequence length {s}, {n} repeats" for b, s, n in settings) or MISSING
        windows = sorted({sp.windows for r in ok for rep in (r.teacher, r.student) if rep.inference
                          for sp in rep.inference.energy_per_example.values()})
        over = f"median over {'/'.join(map(str, windows))} windows per model [min–max]" if windows else "one window"
        doc.para(f"Latency: median over repeats ({bench}). Speed-up = teacher median latency / this "
                 "model's, both measured in the same run. Energy per example: total J of the meter's "
                 f"window / examples run in it, {over}, teacher and student windows alternated; "
                 "\"dynamic\" removes the run's idle baseline. It names its method "
                 "(≈ marks estimates). Training time sums the compress:* and tune:* phases (the "
                 "teacher row: teacher-finetune). MB = 10^6 bytes on disk (safetensors); stored as = those bytes "
                 "by dtype, read from the files. Unstructured sparsity = zeros among the encoder parameters "
                 "present: zeros in dense matrices save no time on dense kernels.", note=True)


_ROW_HEAD = ["Model", "Compressors", "Tuner", "Target sparsity"]


class _Row:
    """One table row: a model (teacher / after compress / student) of one run. ``settings``: what
    sets its run apart from the others of the table (None: the table has no such column)."""

    def __init__(self, run: RunResult, model: str, rep: ModelReport, settings: list[str] | None) -> None:
        self.run, self.model, self.rep, self.settings = run, model, rep, settings

    def head(self) -> list[str]:
        extra = [] if self.settings is None else [", ".join(self.settings) or MISSING]
        if self.model == "teacher":
            return ["teacher", MISSING, MISSING, *([MISSING] * len(extra)), MISSING]
        return [self.model, facts.chain(self.run), facts.tuner(self.run), *extra,
                fmt_.percent(facts.target_sparsity(self.run))]


def _row_head(rows: list[_Row]) -> list[str]:
    settings = ["Settings"] if rows[0].settings is not None else []
    return [*_ROW_HEAD[:3], *settings, _ROW_HEAD[3]]


def _model_rows(ref: RunResult, ok: list[RunResult]) -> list[_Row]:
    by_run = facts.differing_settings(ok)
    # A Settings column only when runs differ in more than chain, tuner and sparsity.
    show = any(by_run.values())
    rows = [_Row(ref, "teacher", ref.teacher, [] if show else None)]
    for r in ok:
        mine = by_run[r.run_key] if show else None
        # The model before tuning is a row of its own only when the run measured it.
        if r.student_after_compress.metrics or r.student_after_compress.size:
            rows.append(_Row(r, "after compress", r.student_after_compress, mine))
        # A post-training compressor (quantize) ran after the tuner: the tuned model before it is a row too.
        if r.student_before_post_training.metrics:
            rows.append(_Row(r, "before post-training", r.student_before_post_training, mine))
        rows.append(_Row(r, "student", r.student, mine))
    return rows


def _energy_per_example(r: RunResult, rep: ModelReport) -> str:
    """Median J per example [min–max over the windows], its method and sensor; the dynamic
    median (idle baseline removed) where the run measured a baseline."""
    if rep.inference is None or not rep.inference.energy_per_example_j:
        return MISSING
    parts = []
    for meter, median_j in rep.inference.energy_per_example_j.items():
        method, covers = facts.meter_method(r, meter, rep)
        name = meter.partition(":")[0]
        where = f"{name}: {', '.join(covers)}" if covers else meter
        source = facts.meter_source(r, meter)
        if source:  # which plugin at which version measured it
            where += f", by {source}"
        text = fmt_.joules(median_j, method)
        spread = rep.inference.energy_per_example.get(meter)
        if spread is not None and spread.min_j is not None and spread.max_j is not None:
            text += f" [{fmt_.sig3(spread.min_j)}–{fmt_.sig3(spread.max_j)}]"
        if spread is not None and spread.dynamic_median_j is not None:
            text += f", dynamic {fmt_.joules(spread.dynamic_median_j, method)}"
        parts.append(f"{text} ({method or 'method not recorded'}, {where})")
    return "; ".join(parts)


def _training_time(row: _Row) -> str:
    key = "compressed" if row.model == "after compress" else row.model
    secs, reused = facts.phase_seconds(row.run, facts.TRAIN_PHASES[key])
    if secs is None:
        return MISSING
    return f"{fmt_.seconds(secs)} (reused from cache)" if reused else fmt_.seconds(secs)


def _failed(doc: Doc, runs: list[RunResult]) -> None:
    failed = [r for r in runs if r.status == "failed"]
    if not failed:
        return
    doc.para(f"Failed runs ({len(failed)}):")
    for r in failed:
        doc.para(run_heading(r, runs))
        doc.code(r.error or "no error message recorded")
