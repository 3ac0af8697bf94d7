"""An example greenprune report section: "Run index", one line per run (what it ran, its primary
metric, the wall time of all its phases), with a figure of where each run's time went.

It uses only ``greenprune.api``: ``Doc`` writes the Markdown and the HTML from the same calls
(escaping every cell), ``report_facts`` derives labels and numbers the same way as the built-in
sections, ``report_figures`` draws with their look, ``report_markup`` formats numbers.
``order=150`` places it right after the Overview (100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import MISSING, Component, Doc, FigureFile, Fmt, ReportInput, hookimpl
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as plot
from greenprune.api import report_markup as fmt_


class RunIndexOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    figure: bool = Field(True, description="draw where each run's time went")


class RunIndex:
    title = "Run index"

    def __init__(self, options: RunIndexOptions) -> None:
        self.options = options

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc = Doc(fmt)
        if not report.results:
            return doc.para("No runs.", note=True).render()
        for key, runs in facts.grouped(report.results).items():
            doc.heading(f"Teacher {key[0]} on {key[1]}")
            primary = facts.primary_metric(runs[0])
            splits = facts.dev_splits(runs)
            rows = []
            for r in runs:
                value = facts.value(r.student, splits[0], primary) if splits else None
                rows.append([r.run_key, facts.run_label(r, runs), r.status, fmt_.metric(value),
                             fmt_.seconds(sum(p.wall_s for p in r.phases)) if r.phases else MISSING])
            doc.table(["Run", "What", "Status", f"Student {primary or 'metric'}", "Wall time"], rows)
        return doc.render()

    def figures(self, report: ReportInput, fig_dir: Path) -> list[FigureFile]:
        out: list[FigureFile] = []
        for key, runs in facts.grouped(report.results).items() if self.options.figure else []:
            ok = [r for r in runs if r.status == "ok" and r.phases]
            if not ok:
                continue  # no figure without a bar
            fig, ax = plot.axes()
            names = list(dict.fromkeys(p.name for r in ok for p in r.phases))
            bottom = [0.0] * len(ok)
            for name in names:
                walls = [sum(p.wall_s for p in r.phases if p.name == name) for r in ok]
                ax.barh([r.run_key for r in ok], walls, left=bottom, label=name)
                bottom = [b + w for b, w in zip(bottom, walls, strict=True)]
            ax.set_xlabel("wall time (s)")
            path = fig_dir / f"run-index-{plot.slug(key[0])}-{plot.slug(key[1])}.png"
            plot.finish(fig, ax, f"{key[1]}: where each run's time went", path)
            out.append(FigureFile(f"{key[0]} on {key[1]}: wall time of each phase, per run.", path))
        return out


@hookimpl
def greenprune_register_report_sections(register: Any) -> None:
    register(Component("run-index", factory=RunIndex, options=RunIndexOptions, order=150,
                       description="one line per run: what it ran, its metric, its wall time; a time figure"))
