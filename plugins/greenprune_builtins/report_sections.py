"""Built-in report sections: overview, comparison (with figures), phases and layers.

Each section reads only ``RunResult`` fields and writes through :class:`~greenprune.report.markup.Doc`,
so the Markdown and HTML reports show the same numbers. Missing fields show as "–".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import MISSING, Component, Doc, Fmt, hookimpl
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_
from greenprune_builtins.report_cofi import cofi_landing

if TYPE_CHECKING:
    from greenprune.api import EnergyReading, FigureFile, ModelReport, RunResult

#: What each energy method label means; shown wherever energy appears so no reader mistakes an
#: estimate for a measurement.
METHODS = {
    "counter": "measured: a hardware energy counter read at the start and end of the window",
    "sampled-power": "measured: power sampled during the window and integrated over time",
    "estimate": "ESTIMATE, not a measurement: computed from a model of power draw; compare with care",
}


def _group_heading(key: facts.GroupKey, runs: list[RunResult]) -> str:
    title = next((r.task.get("title") for r in runs if r.task.get("title")), None)
    task = f"{key[1]} ({title})" if title and title != key[1] else key[1]
    return f"Teacher {key[0]} on {task}"


def _run_label(r: RunResult, group: list[RunResult]) -> str:
    s = facts.target_sparsity(r)
    sparsity = f", sparsity {fmt_.percent(s)}" if s is not None else ""
    return f"{facts.variant(r, group)}{sparsity} (run {r.run_key})"


def _no_runs(doc: Doc) -> str:
    return doc.para("No runs.", note=True).render()


# ---------------------------------------------------------------------------------------------
# overview
# ---------------------------------------------------------------------------------------------


class Overview:
    title = "Overview"

    def render(self, results: list[RunResult], fmt: Fmt) -> str:
        doc = Doc(fmt)
        if not results:
            return _no_runs(doc)
        readings = [e for r in results for e in _all_readings(r)]
        if any(e.method == "estimate" for e in readings):
            doc.para("Some energy figures below are ESTIMATES, not measurements; they are marked "
                     "with ≈ and the method label \"estimate\".")
        for key, runs in facts.grouped(results).items():
            doc.heading(_group_heading(key, runs))
            doc.bullets(self._task_facts(runs))
            env_rows = _env_rows(runs)
            if env_rows:
                doc.para("Environment:")
                doc.bullets(f"{k}: {v}" for k, v in env_rows)
            doc.para("Energy methods used:")
            method_rows = _method_rows([e for r in runs for e in _all_readings(r)])
            if method_rows:
                doc.table(["Meter", "Method", "Covers", "Readings", "Meaning", "Notes"], method_rows)
            else:
                doc.para("No energy readings were recorded.", note=True)
        return doc.render()

    @staticmethod
    def _task_facts(runs: list[RunResult]) -> list[str]:
        tasks = [r.task for r in runs if r.task]
        failed = sum(r.status == "failed" for r in runs)
        items = [f"Runs: {len(runs)} ({len(runs) - failed} ok, {failed} failed)"]
        if not tasks:
            return [*items, "Task details: – (no run recorded them)"]
        first = tasks[0]
        sources = list(dict.fromkeys(str(t.get("source", MISSING)) for t in tasks))
        items.insert(0, f"Data source: {'; '.join(sources)}")
        if first.get("kind") or first.get("primary_metric"):
            items.append(f"Task kind: {first.get('kind', MISSING)}; primary metric: "
                         f"{first.get('primary_metric', MISSING)}")
        if any(t.get("synthetic") for t in tasks):
            items.append("Synthetic data: yes (a demo task, not a benchmark result)")
        sizes = list(dict.fromkeys(_compact(t["sizes"]) for t in tasks if t.get("sizes")))
        if sizes:
            items.append(f"Examples: {'; '.join(sizes)}")
        notes: dict[str, None] = {}
        for t in tasks:
            raw = t.get("notes") or []
            notes.update(dict.fromkeys([raw] if isinstance(raw, str) else [str(n) for n in raw]))
        items += [f"Note: {n}" for n in notes]
        return items


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _env_rows(runs: list[RunResult]) -> list[list[str]]:
    """One row per env key; where runs disagree, every value with its run count."""
    keys: dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r.env))
    rows = []
    for k in keys:
        values = Counter(_env_value(r.env.get(k)) for r in runs)
        if len(values) == 1:
            rows.append([k, next(iter(values))])
        else:
            rows.append([k, "; ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in values.items())])
    return rows


def _env_value(v: Any) -> str:
    # Readable, short values: a long JSON blob would make the table scroll sideways in the HTML.
    if v is None:
        return MISSING
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in sorted(v.items()) if x is not None) or MISSING
    if isinstance(v, list):
        return ", ".join(f"{x:.2f}" if isinstance(x, float) else str(x) for x in v) or "none"
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _all_readings(r: RunResult) -> list[EnergyReading]:
    out = [*r.energy_baseline, *(e for p in r.phases for e in p.energy)]
    for rep in (r.teacher, r.student_after_compress, r.student):
        if rep.inference:
            out += rep.inference.energy
    return out


def _method_rows(readings: list[EnergyReading]) -> list[list[str]]:
    by: dict[tuple[str, str], list[EnergyReading]] = {}
    for e in readings:
        by.setdefault((e.meter, e.method), []).append(e)
    rows = []
    for (meter, method), mine in by.items():
        covers = ", ".join(dict.fromkeys(e.covers for e in mine))
        no_sensor = sum(e.joules is None for e in mine)
        count = f"{len(mine)}" + (f" ({no_sensor} without sensor)" if no_sensor else "")
        notes = "; ".join(dict.fromkeys(e.note for e in mine if e.note)) or MISSING
        rows.append([meter, method, covers, count, METHODS.get(method, method), notes])
    return rows


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------


class Comparison:
    title = "Comparison"

    def render(self, results: list[RunResult], fmt: Fmt) -> str:
        doc = Doc(fmt)
        if not results:
            return _no_runs(doc)
        for key, runs in facts.grouped(results).items():
            doc.heading(_group_heading(key, runs))
            ok = [r for r in runs if r.status == "ok"]
            ref = facts.first_ok(runs)
            if ref is not None:
                rows = _model_rows(ref, ok)
                self._quality(doc, runs, rows)
                self._cost(doc, ok, rows)
                if any(r.teacher.metrics != ref.teacher.metrics for r in ok):
                    doc.para(f"Teacher metrics differ between runs of this group; the teacher rows show "
                             f"run {ref.run_key}'s teacher, and each Δ and speed-up uses its own run's "
                             "teacher.", note=True)
            else:
                doc.para("No run of this group finished.", note=True)
            _failed(doc, runs)
        return doc.render()

    def figures(self, results: list[RunResult], fig_dir: Path) -> list[FigureFile]:
        from greenprune.report.figures import group_figures

        out: list[FigureFile] = []
        for key, runs in facts.grouped(results).items():
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
        headers = [*_row_head(rows), "Encoder params", "Total params", "Size (MB)", "Structured sparsity",
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
                 "teacher row: teacher-finetune). MB = 10^6 bytes on disk (safetensors).", note=True)


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
        rows.append(_Row(r, "student", r.student, mine))
    return rows


def _energy_per_example(r: RunResult, rep: ModelReport) -> str:
    """Median J per example [min–max over the windows], its method and sensor; the dynamic
    median (idle baseline removed) where the run measured a baseline."""
    if rep.inference is None or not rep.inference.energy_per_example_j:
        return MISSING
    parts = []
    for meter, joules in rep.inference.energy_per_example_j.items():
        method, covers = facts.meter_method(r, meter, rep)
        name = meter.partition(":")[0]
        where = f"{name}: {', '.join(covers)}" if covers else meter
        text = fmt_.joules(joules, method)
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
        doc.para(_run_label(r, runs))
        doc.code(r.error or "no error message recorded")


# ---------------------------------------------------------------------------------------------
# phases
# ---------------------------------------------------------------------------------------------


_LAYER_COLUMNS = {"layer": "Layer", "heads": "Heads", "q": "Q dim", "k": "K dim", "v": "V dim",
                  "ffn": "FFN width", "hidden": "Hidden"}


class Layers:
    title = "Per-layer sizes"

    def render(self, results: list[RunResult], fmt: Fmt) -> str:
        doc = Doc(fmt)
        if not any(r.student.size and r.student.size.layers for r in results):
            return doc.para("No run recorded per-layer sizes.", note=True).render()
        # Grouped before filtering, so run labels name the same variants as the other sections.
        any_origin = False
        for key, runs in facts.grouped(results).items():
            with_layers = [r for r in runs if r.student.size and r.student.size.layers]
            if not with_layers:
                continue
            doc.heading(_group_heading(key, runs))
            for r in with_layers:
                layers = r.student.size.layers if r.student.size else []
                keys = [k for k in _LAYER_COLUMNS if any(k in d for d in layers)]
                keys += [k for k in dict.fromkeys(k for d in layers for k in d) if k not in keys]
                origin = facts.teacher_layer_of(r, len(layers))
                any_origin = any_origin or origin is not None
                header = [_LAYER_COLUMNS.get(k, k) for k in keys]
                rows = [[_layer_cell(d, k) for k in keys] for d in layers]
                if origin is not None:  # a depth-changing compressor: which teacher layer each one is
                    header.insert(1, "Teacher layer")
                    for row, d in zip(rows, layers, strict=True):
                        row.insert(1, str(origin.get(int(d.get("layer", -1)), MISSING)))
                doc.heading(_run_label(r, runs), level=4)
                doc.table(header, rows)
                for line in cofi_landing(r):
                    doc.para(line, note=True)
        note = "Kept sizes of the final student; \"None (removed)\": that part of the layer was pruned away."
        if any_origin:
            note += (" Teacher layer: the 0-based teacher layer a layer-dropped student's layer was copied from "
                     "and imitates.")
        doc.para(note, note=True)
        return doc.render()


def _layer_cell(d: dict[str, Any], key: str) -> str:
    if key not in d:
        return MISSING
    v = d[key]
    return "None (removed)" if v is None else str(v)


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------


def _component(name: str, cls: Callable[[], Any], description: str) -> Component:
    return Component(name=name, factory=lambda _opts: cls(), description=description)


def sections() -> list[Component]:
    """The built-in sections in reading order (the catalogue keeps registration order)."""
    # Imported here: report_phases builds on this module's helpers.
    from greenprune_builtins.report_phases import Phases

    return [
        _component("overview", Overview,
                   "per teacher and task: data source, runs, environment, energy methods"),
        _component("comparison", Comparison,
                   "teacher vs every run: metrics, Δ, size, latency, speed-up, energy, time; figures"),
        _component("phases", Phases, "per run: wall time and every energy reading of each phase"),
        _component("layers", Layers, "per run: kept heads, Q/K/V, FFN and hidden size of each layer"),
    ]


@hookimpl
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    for component in sections():
        register(component)
