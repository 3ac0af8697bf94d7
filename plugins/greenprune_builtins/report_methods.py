"""The study's methods comparison: per (teacher, task), every finished run as one method on one view.

One row per ok run, the teacher first: what the method is (chain with its targets, and tuner), the
kind and measured value of its sparsity, how the saved model is stored (dtype, bytes on disk), the
primary metric with its share of the run's own teacher right after compression and after all
phases, the measured speed-up (within the run, at the main inference batch), J per inference
example with its method label, peak inference memory and the weights' bytes in memory, and the
share of parameters the tuner trained. :mod:`greenprune_builtins.report_methods_figures` draws the
same runs as one figure (speed-up x metric kept, coloured by J/example).

Everything is read from the result records; a field a record lacks shows as "–".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from greenprune.api import MISSING, Doc, hardware_note
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_

if TYPE_CHECKING:
    from greenprune.api import MemoryFigures, ModelReport, RunResult

#: below this share of zeros (or of parameters removed) a model counts as dense in the sparsity cell:
#: a trained dense model holds a few exact zeros (frozen zero biases, int8 values that round to 0)
DENSE_BELOW = 0.01


def compressor_label(r: RunResult, name: str) -> str:
    """One compressor of the chain as its phase recorded it: its own ``method`` label where it gave
    one (``wanda 2:4``), else its name with the ``target`` / ``target_sparsity`` it recorded
    (``cofi 0.6``), else its name (``quantize``, ``distill``)."""
    phase = next((p for p in r.phases if p.name == f"compress:{name}"), None)
    details = phase.details if phase is not None else {}
    if isinstance(details.get("method"), str):
        return str(details["method"])
    target = details.get("target", details.get("target_sparsity"))
    return f"{name} {target:g}" if isinstance(target, (int, float)) and not isinstance(target, bool) else name


def method_labels(ok: list[RunResult]) -> dict[str, str]:
    """Per run key, the method: compressors (with their targets) joined by ``+``, then ``/ tuner``,
    then the settings that set it apart from the group's other runs and the label does not already
    say (``distill.keep=[1,5]``), and the seed where the group has several."""
    extra = facts.differing_settings(ok)
    seeds = len({r.config.get("seed") for r in ok}) > 1
    out = {}
    for r in ok:
        names = r.config.get("compressors") or ["?"]
        parts = dict(zip(names, (compressor_label(r, c) for c in names), strict=True))
        label = f"{' + '.join(parts[c] for c in names)} / {facts.tuner(r)}"
        # a compressor's setting its label already shows (wanda.mode="2:4" in "wanda 2:4") is not repeated
        said = [s for s in extra[r.run_key]
                if not (s.split(".", 1)[0] in parts and _value(s) in parts[s.split(".", 1)[0]].split(" ")[1:])]
        if said:
            label += f" ({', '.join(said)})"
        out[r.run_key] = label + (f" seed {r.config.get('seed')}" if seeds else "")
    return out


def _value(setting: str) -> str:
    """``key=value`` -> the value as a label would show it (JSON strings without their quotes)."""
    raw = setting.partition("=")[2]
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def trained_share(r: RunResult) -> tuple[float, int] | None:
    """(share, count) of the parameters the tuner trained, as its phase recorded them."""
    phase = next((p for p in r.phases if p.name.startswith("tune:")), None)
    if phase is None:
        return None
    trained, total = phase.details.get("trainable_params"), phase.details.get("total_params")
    if isinstance(trained, int) and isinstance(total, int) and total > 0:
        return trained / total, trained
    return None


def sparsity_cell(rep: ModelReport) -> str:
    """The kind(s) of sparsity the model really has and their measured values."""
    structured, unstructured = facts.measured_sparsity(rep), facts.unstructured_sparsity(rep)
    if structured is None and unstructured is None:
        return MISSING
    parts = [f"{kind} {fmt_.percent(v)}" for kind, v in (("structured", structured), ("unstructured", unstructured))
             if v is not None and v >= DENSE_BELOW]
    return "; ".join(parts) or "dense"


def _memory(mem: MemoryFigures | None) -> tuple[str, str]:
    """Peak inference memory (process RSS Δ; CUDA allocated Δ where RSS was not read) and weight bytes."""
    if mem is None:
        return MISSING, MISSING
    if mem.peak_rss_delta_bytes is not None:
        peak = fmt_.megabytes(mem.peak_rss_delta_bytes)
    elif mem.cuda_allocated_delta_bytes is not None:
        peak = f"{fmt_.megabytes(mem.cuda_allocated_delta_bytes)} (CUDA)"
    else:
        peak = MISSING
    return peak, fmt_.megabytes(mem.weight_bytes)


def _metric_cell(r: RunResult, rep: ModelReport, split: str) -> str:
    value = facts.value(rep, split, facts.primary_metric(r))
    if value is None:
        return MISSING
    share = facts.metric_kept(r, rep, split)
    return fmt_.metric(value) + ("" if share is None else f" ({share * 100:.1f}%)")


def methods_table(doc: Doc, ok: list[RunResult]) -> None:
    """The methods comparison of one (teacher, task) group (``ok``: its finished runs)."""
    from greenprune_builtins.report_study_figures import energy_source, inference_joules, source_label

    metric, splits = facts.primary_metric(ok[0]), facts.dev_splits(ok)
    if metric is None or not splits:
        return
    split, source = splits[0], energy_source(ok)
    method = None
    if source is not None:
        method = next((m for r in ok if (m := facts.meter_method(r, source, r.student)[0])), None)
    labels = method_labels(ok)
    headers = ["Method", "Sparsity (measured)", "Stored as", "On disk (MB)",
               f"{metric} after compression (% of teacher)", f"{metric} final (% of teacher)", "Speed-up",
               *([f"J / inference example ({source_label(ok, source)})"] if source else []),
               "Peak inference memory Δ (MB)", "Weights in memory (MB)", "Trained parameters"]

    def row(r: RunResult, label: str, rep: ModelReport, after_compress: str, speedup: str) -> list[str]:
        size, inf = rep.size, rep.inference
        energy = [fmt_.joules(inference_joules(rep, source), method)] if source else []
        share = trained_share(r) if rep is r.student else None
        return [label, sparsity_cell(rep), facts.stored_as(rep) or MISSING,
                fmt_.megabytes(size.bytes_on_disk if size else None), after_compress, _metric_cell(r, rep, split),
                speedup, *energy, *_memory(inf.memory if inf else None),
                MISSING if share is None else f"{share[0] * 100:.2f}% ({fmt_.count(share[1])})"]

    ref = ok[0]
    rows = [row(ref, "teacher", ref.teacher, MISSING, "1× (ref)")]
    for r in ok:
        up = facts.speedup(r, r.student)
        after = r.student_after_compress
        rows.append(row(r, labels[r.run_key], r.student, _metric_cell(r, after, split) if after.metrics else MISSING,
                        MISSING if up is None else f"{up:.2f}×"))
    doc.para(f"Every method on one view ({metric} on {split}; the figure \"speed-up vs {metric} kept\" below "
             "draws the same runs):")
    doc.table(headers, rows)
    doc.para(f"% of teacher = the metric over its own run's teacher's. After compression = before the tuner "
             f"(where the run measured it). Sparsity: structured = encoder parameters removed, unstructured = zeros "
             f"among those present; under {DENSE_BELOW:.0%} of either counts as dense. Speed-up = the run's teacher "
             "median latency over the student's at the main inference batch, measured in the same run. Peak "
             "inference memory Δ = the process's resident-memory high-water mark in the model's inference window "
             "minus its resident memory at the window's start. Trained parameters = the share the tuner trained, "
             "where its phase recorded it.", note=True)
    for line in hardware_note(ok):
        doc.para(line, note=True)
