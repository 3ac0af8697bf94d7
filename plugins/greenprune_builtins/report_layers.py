"""The built-in "layers" report section: per run, the kept heads, Q/K/V, FFN and hidden size of each
layer (with the teacher layer a layer-dropped student's layer came from), and the notes each
compressor's phase report gives on its phases."""

from __future__ import annotations

from typing import Any

from greenprune.api import MISSING, Doc, Fmt, ReportInput
from greenprune.api import report_facts as facts
from greenprune_builtins.report_common import group_heading, run_heading

#: known per-layer keys (greenprune.modeling.per_layer_sizes) and their column titles
_LAYER_COLUMNS = {"layer": "Layer", "heads": "Heads", "q": "Q dim", "k": "K dim", "v": "V dim",
                  "ffn": "FFN width", "hidden": "Hidden"}


class Layers:
    title = "Per-layer sizes"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc, results = Doc(fmt), report.results
        if not any(r.student.size and r.student.size.layers for r in results):
            return doc.para("No run recorded per-layer sizes.", note=True).render()
        # Grouped before filtering, so run labels name the same variants as the other sections.
        any_origin = False
        for key, runs in facts.grouped(results).items():
            with_layers = [r for r in runs if r.student.size and r.student.size.layers]
            if not with_layers:
                continue
            doc.heading(group_heading(key, runs))
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
                doc.heading(run_heading(r, runs), level=4)
                doc.table(header, rows)
                for phase in r.phases:  # what each compressor / tuner says about its phase (CoFi: its landing)
                    notes = report.phase_report(phase.name).notes
                    for line in notes(phase) if notes else []:
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
