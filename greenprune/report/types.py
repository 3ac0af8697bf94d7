"""The data types of the report contract: what a section receives, what it returns, and what a
compressor or tuner tells reports about its own phases.

Sections and phase reports are plugins; the core only passes these objects between them, so it
never needs to know a compressor's loss names or figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from greenprune.results import PhaseRecord, RunResult

Fmt = Literal["markdown", "html"]

#: (teacher, task): the runs one table or figure compares
GroupKey = tuple[str, str]


class FigureFile(NamedTuple):
    """One figure a section produced (a plain ``(caption, path)`` tuple works too)."""

    caption: str
    path: Path


#: ``(group, runs of that group, path stem) -> figures``: a phase report's figures for one group;
#: each file is written as ``f"{stem}-<name>.png"``.
TraceFigures = Callable[[GroupKey, list["RunResult"], Path], list[FigureFile]]


@dataclass(frozen=True)
class PhaseReport:
    """What a compressor or tuner tells reports about its own phases (``Component.phase_report``).

    Everything is optional: a component without one still has its phases, traces and details
    shown generically (loss parts drawn under their trace key, no notes).
    """

    #: trace key -> what it is, for figure captions (``{"l1": "the L1 penalty on the weights"}``)
    loss_parts: Mapping[str, str] = field(default_factory=dict)
    #: trace keys that are not loss parts (a controller's state: multipliers, targets, expectations)
    control_keys: frozenset[str] = frozenset()
    #: figures drawn from this component's traces, for one (teacher, task) group
    figures: TraceFigures | None = None
    #: those figures in a few words, for a section's list of what follows ("the pruner's multipliers")
    figures_summary: str = ""
    #: lines about one of its phases (how it met its target, say), shown under the run's per-layer sizes
    notes: Callable[[PhaseRecord], list[str]] | None = None


#: the phase report of a component that declares none
NO_PHASE_REPORT = PhaseReport()


def phase_kind(name: str) -> str:
    """``compress:prune#2`` -> ``compress:prune``: a component used twice in a chain reports as one kind."""
    return re.sub(r"#\d+$", "", name)


@dataclass(frozen=True)
class ReportInput:
    """What every section is given: the runs, and what their components say about their phases."""

    results: list[RunResult]
    #: by phase kind (``compress:NAME``, ``tune:NAME``): from each component's ``phase_report``
    phase_reports: Mapping[str, PhaseReport] = field(default_factory=dict)

    def phase_report(self, phase_name: str) -> PhaseReport:
        """The phase report of the component that ran ``phase_name`` (``compress:prune#2`` too)."""
        return self.phase_reports.get(phase_kind(phase_name), NO_PHASE_REPORT)


@runtime_checkable
class ReportSection(Protocol):
    """A report section: what ``Component.factory(options)`` returns for kind ``report_section``.

    ``render`` returns the body (the renderer writes the heading; bodies start at heading level 3),
    written through :class:`~greenprune.report.markup.Doc` so Markdown and HTML show the same text.
    A section may also draw figures (see :class:`FigureSection`).
    """

    title: str

    def render(self, report: ReportInput, fmt: Fmt) -> str: ...


@runtime_checkable
class FigureSection(Protocol):
    """A section that also draws figures: PNG files written into ``fig_dir``, placed after its body
    (linked from the Markdown, inlined in the HTML). Made once, shared by both formats."""

    def figures(self, report: ReportInput, fig_dir: Path) -> list[FigureFile]: ...
