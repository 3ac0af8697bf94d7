"""The public surface for report-section and phase-report authors (built-in or third-party).

A section is a component of kind ``report_section`` whose factory returns a :class:`ReportSection`;
it writes its body once through :class:`Doc` (Markdown and HTML come out of the same calls, escaped)
and may draw figures with the helpers below. A compressor or tuner describes its own phases with
:class:`PhaseReport` (``Component(..., phase_report=...)``): the meaning of its trace's loss parts,
its control keys, figures of its traces, and notes.

Only what is named here is the contract; other ``greenprune.report`` modules are private.

* Types: :class:`ReportInput`, :class:`ReportSection`, :class:`FigureSection`, :class:`FigureFile`,
  :class:`PhaseReport`, ``Fmt``, ``GroupKey``.
* Writing: :class:`Doc`, ``MISSING`` and the number formats ``sig3``, ``metric``, ``delta``,
  ``count``, ``megabytes``, ``percent``, ``seconds``, ``joules``.
* Run facts: the module :mod:`facts` (groups, variants and labels, metrics, sparsity, speed-up,
  phase time, energy methods and totals, traces), every function ``None``-safe.
* Figures: the module :mod:`figures` (``series``, ``axes``, ``draw``, ``percent_x``, ``finish``,
  ``save``, ``slug``, ``trace_xy``, ``trace_marks``).
"""

from __future__ import annotations

from greenprune.report import facts, figures
from greenprune.report.markup import (
    MISSING,
    Doc,
    count,
    delta,
    joules,
    megabytes,
    metric,
    percent,
    seconds,
    sig3,
)
from greenprune.report.types import (
    FigureFile,
    FigureSection,
    Fmt,
    GroupKey,
    PhaseReport,
    ReportInput,
    ReportSection,
    phase_kind,
)

__all__ = [
    "MISSING", "Doc", "FigureFile", "FigureSection", "Fmt", "GroupKey", "PhaseReport", "ReportInput",
    "ReportSection", "count", "delta", "facts", "figures", "joules", "megabytes", "metric", "percent",
    "phase_kind", "seconds", "sig3",
]
