"""The built-in "runtimes" report section: where users deploy.

Per run: the speed-up matrix (runtime x batch size x threads, each cell = the teacher in eager
PyTorch at the same batch and threads / the model there), every cell's latency, throughput,
energy per example, peak memory and ONNX parity, and the peak memory of each phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from greenprune.api import MISSING, Component, Doc, Fmt, ReportInput, hookimpl
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_
from greenprune_builtins.report_common import group_heading, no_runs, run_heading

if TYPE_CHECKING:
    from greenprune.api import InferenceFigures, MemoryFigures, RunResult


def _speed(ref: InferenceFigures | None, fig: InferenceFigures) -> str:
    if ref is None or not fig.latency_ms_median:
        return MISSING
    return f"{ref.latency_ms_median / fig.latency_ms_median:.2f}x"


def _cells(r: RunResult) -> list[tuple[str, InferenceFigures]]:
    return [("teacher", c) for c in r.teacher.runtimes] + [("student", c) for c in r.student.runtimes]


def _teacher_eager(r: RunResult) -> dict[tuple[int, int | None], InferenceFigures]:
    return {(c.batch_size, c.threads): c for c in r.teacher.runtimes if c.runtime == "eager"}


def _parity(fig: InferenceFigures) -> str:
    if fig.parity_max_abs_diff is None:
        return MISSING if fig.runtime == "eager" else "not checked"
    ok = fig.parity_tolerance is not None and fig.parity_max_abs_diff <= fig.parity_tolerance
    agree = "" if fig.parity_argmax_agreement is None else f"; argmax agrees {fig.parity_argmax_agreement:.0%}"
    return f"{fig.parity_max_abs_diff:.1e} {'ok' if ok else 'FAILED'} (≤ {fig.parity_tolerance:.3g}{agree})"


def _rules(doc: Doc, r: RunResult) -> None:
    """Each model's parity rule (float32: 1e-4; an int8 graph: from its own rounding error), said once."""
    rules = {f"{model}: {c.parity_rule}" for model, c in _cells(r) if c.parity_rule}
    if rules:
        doc.para("Parity rules — " + "; ".join(sorted(rules)) + ".", note=True)
    made = {f"{model}'s ONNX graph is int8, made by {c.runtime_info['quantizer']}"
            for model, c in _cells(r) if c.runtime_info.get("quantizer")}
    if made:
        doc.para("The " + "; the ".join(sorted(made)) + ".", note=True)


def _energy(fig: InferenceFigures) -> str:
    parts = [f"{fmt_.sig3(v)} J ({k})" for k, v in fig.energy_per_example_j.items() if v is not None]
    return "; ".join(parts) or MISSING


def _mem(m: MemoryFigures | None, field: str) -> str:
    v = getattr(m, field, None) if m is not None else None
    return fmt_.megabytes(v) if v is not None else MISSING


def _matrix(doc: Doc, r: RunResult) -> None:
    ref = _teacher_eager(r)
    columns = sorted({(c.batch_size, c.threads or 0) for _, c in _cells(r)}, key=lambda x: (x[1], x[0]))
    rows = []
    for model in ("teacher", "student"):
        figs = r.teacher.runtimes if model == "teacher" else r.student.runtimes
        for runtime in dict.fromkeys(c.runtime for c in figs):
            by = {(c.batch_size, c.threads or 0): c for c in figs if c.runtime == runtime}
            rows.append([model, runtime] + [
                _speed(ref.get((b, t or None)), by[(b, t)]) if (b, t) in by else MISSING for b, t in columns])
    doc.table(["Model", "Runtime"] + [f"batch {b}, {t} threads" for b, t in columns], rows)


def _detail(doc: Doc, r: RunResult) -> None:
    ref = _teacher_eager(r)
    rows = [[model, c.runtime, str(c.batch_size), str(c.threads or MISSING), fmt_.sig3(c.latency_ms_median),
             fmt_.sig3(c.throughput_per_s), _speed(ref.get((c.batch_size, c.threads)), c), _energy(c),
             _mem(c.memory, "peak_rss_delta_bytes"), _mem(c.memory, "cuda_max_allocated_bytes"),
             _mem(c.memory, "weight_bytes"), _mem(c.memory, "runtime_load_bytes"), _parity(c)]
            for model, c in _cells(r)]
    doc.table(["Model", "Runtime", "Batch", "Threads", "Latency median (ms)", "Throughput (/s)",
               "Speed-up vs teacher eager", "Energy / example", "Peak RSS Δ (MB)", "CUDA peak (MB)",
               "Weights (MB)", "Runtime copy (MB)", "Parity"], rows)


def _memory(doc: Doc, r: RunResult) -> None:
    rows = [[f"inference ({who}, eager, batch {rep.inference.batch_size})",
             _mem(rep.inference.memory, "peak_rss_delta_bytes"), _mem(rep.inference.memory, "peak_rss_bytes"),
             _mem(rep.inference.memory, "cuda_max_allocated_bytes"), _mem(rep.inference.memory, "weight_bytes")]
            for who, rep in (("teacher", r.teacher), ("student", r.student)) if rep.inference is not None]
    rows += [[p.name, _mem(p.peak_memory, "peak_rss_delta_bytes"), _mem(p.peak_memory, "peak_rss_bytes"),
              _mem(p.peak_memory, "cuda_max_allocated_bytes"), MISSING] for p in r.phases]
    if rows:
        doc.table(["Window", "Peak RSS Δ (MB)", "Peak RSS (MB)", "CUDA peak allocated (MB)", "Weights (MB)"], rows)


class Runtimes:
    title = "Runtimes and memory"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc = Doc(fmt)
        ok = [r for r in report.results if r.status == "ok"]
        if not ok:
            return no_runs(doc)
        for key, runs in facts.grouped(ok).items():
            doc.heading(group_heading(key, runs))
            for r in runs:
                doc.heading(run_heading(r, runs), level=4)
                if r.teacher.runtimes or r.student.runtimes:
                    doc.para("Speed-up over the teacher in eager PyTorch at the same batch size and threads:")
                    _matrix(doc, r)
                    _detail(doc, r)
                    _rules(doc, r)
                else:
                    doc.para("Eager PyTorch only (add runtimes with --set "
                             "'inference.runtimes=[\"eager\",\"onnxruntime\"]').", note=True)
                _memory(doc, r)
        doc.para("Peak RSS Δ = the process's resident-memory high-water mark in the window minus its resident "
                 "memory when the window opened (the kernel's mark, reset at the window's start; an inference "
                 "window is a model's first two batches, before warm-up, so first-call allocations count). "
                 "Weights = the PyTorch model's parameters and buffers (an int8 module's by its stored int8 tensors); "
                 "Runtime copy = resident memory added by "
                 "loading the ONNX file into ONNX Runtime. Parity = largest |ONNX Runtime − PyTorch| over the "
                 "outputs on the measured batch, against the model's rule, and the share of rows whose argmax "
                 "agrees (outputs with more than one column).", note=True)
        return doc.render()


@hookimpl
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    register(Component(name="runtimes", factory=lambda _opts: Runtimes(), order=450, description=(
        "per run: speed-up matrix runtime x batch x threads, memory, ONNX parity, phase peak memory")))
