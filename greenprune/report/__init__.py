"""Render results (``RunResult`` objects, nothing else) as ``report.md`` and one self-contained
``report.html``.

A report is the list of sections the installed plugins register (kind ``report_section``), in
their declared order (``Component.order``, lower first; registration order breaks ties). The core
knows no section by name: it builds each, hands it a :class:`~greenprune.report.types.ReportInput`
(the runs, and each compressor's and tuner's ``phase_report``), writes the section headings and
places the figures. A section author uses what :mod:`greenprune.api` exports of it.

A section that raises is shown as an error in its place, so one broken plugin does not cost the
whole report.
"""

from __future__ import annotations

import base64
import shutil
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report.markup import Doc, md_escape
from greenprune.report.types import FigureFile, FigureSection, PhaseReport, ReportInput, ReportSection

if TYPE_CHECKING:
    from greenprune.components import Catalogue, Component
    from greenprune.results import RunResult

__all__ = ["FigureFile", "ReportSection", "phase_reports", "render_reports", "sections_in_order"]

TEMPLATES = Path(__file__).parent / "templates"
FIGURES_DIR = "figures"

#: the phase-name prefix of each kind of component that runs a phase (see greenprune.phases)
_PHASE_PREFIX = {"compressor": "compress:", "tuner": "tune:"}


@dataclass
class _Rendered:
    """What the templates see for one section."""

    id: str
    title: str
    markdown: str
    html: str
    #: (caption, path relative to the report folder, data: URI)
    figures: list[tuple[str, str, str]] = field(default_factory=list)


def sections_in_order(catalogue: Catalogue) -> list[Component]:
    """The catalogue's report sections by ``order`` (stable: registration order breaks ties)."""
    return sorted(catalogue.by_kind["report_section"].values(), key=lambda c: c.order)


def phase_reports(catalogue: Catalogue) -> dict[str, PhaseReport]:
    """Each compressor's and tuner's ``phase_report``, by the phase kind it runs (``compress:NAME``)."""
    return {_PHASE_PREFIX[kind] + c.name: c.phase_report for kind in _PHASE_PREFIX
            for c in catalogue.by_kind[kind].values() if c.phase_report is not None}


def render_reports(
    results: list[RunResult],
    out_dir: Path,
    catalogue: Catalogue | None = None,
    *,
    sections: list[Component] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> tuple[Path, Path]:
    """Write ``out_dir/report.md`` (figures in ``out_dir/figures/``) and ``out_dir/report.html``.

    :param results: the runs to report (any mix of teachers, tasks, compressors; failed ones too).
    :param out_dir: created if missing; existing report files are overwritten.
    :param catalogue: the components to report with (sections, phase reports); default: those of
        every installed plugin.
    :param sections: render these section components, in this order, instead of the catalogue's.
    :param options: per-section options (section name -> option -> value).
    :return: the paths of the Markdown and the HTML report.
    """
    if catalogue is None:
        from greenprune.components import collect
        from greenprune.plugins import make_plugin_manager

        catalogue = collect(make_plugin_manager())
    out_dir = Path(out_dir)
    fig_dir = out_dir / FIGURES_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    components = sections_in_order(catalogue) if sections is None else sections
    report = ReportInput(results=results, phase_reports=phase_reports(catalogue))
    options = options or {}
    rendered = [_render_section(c, report, out_dir, fig_dir, options.get(c.name)) for c in components]

    context = {"sections": rendered, "summary": _summary(results)}
    env = _environment()
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(env.get_template("report.md.j2").render(context), encoding="utf-8")
    html_path.write_text(env.get_template("report.html.j2").render(context), encoding="utf-8")
    return md_path, html_path


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Escape in the HTML template only: Markdown bodies are already escaped by Doc.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_escape
    return env


def _render_section(
    component: Component, report: ReportInput, out_dir: Path, fig_dir: Path, raw_options: dict | None
) -> _Rendered:
    import markupsafe

    try:
        section = component.build(raw_options)
        title = str(section.title)
        bodies = {fmt: section.render(report, fmt) for fmt in ("markdown", "html")}
        figures = _collect_figures(section, report, out_dir, fig_dir)
    except Exception as exc:  # a plugin's bug must not lose the other sections
        warnings.warn(f"report section {component.name!r} failed: {exc}", stacklevel=2)
        title = component.name
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        bodies = {fmt: Doc(fmt).para(f"This section failed to render ({component.plugin or 'plugin'}):")
                  .code(detail).render() for fmt in ("markdown", "html")}
        figures = []
    # Section HTML is produced by the section (through Doc, which escapes); mark it safe so the
    # autoescaping template does not escape it a second time.
    return _Rendered(id=component.name, title=title, markdown=bodies["markdown"],
                     html=markupsafe.Markup(bodies["html"]), figures=figures)


def _collect_figures(
    section: Any, report: ReportInput, out_dir: Path, fig_dir: Path
) -> list[tuple[str, str, str]]:
    if not isinstance(section, FigureSection):
        return []
    out = []
    for caption, path in section.figures(report, fig_dir):
        path = Path(path)
        if not path.is_file():
            continue
        try:
            rel = path.resolve().relative_to(out_dir.resolve())
        except ValueError:  # written elsewhere: copy it in so the Markdown link works
            target = fig_dir / path.name
            shutil.copyfile(path, target)
            rel = target.relative_to(out_dir)
        uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        out.append((str(caption), rel.as_posix(), uri))
    return out


def _summary(results: list[RunResult]) -> dict[str, Any]:
    """Header facts, all from the results (no clock reading, so re-rendering is reproducible)."""
    from greenprune import __version__

    started = sorted(r.started_at for r in results if r.started_at)
    finished = sorted(r.finished_at for r in results if r.finished_at)
    return {
        "runs": len(results),
        "failed": sum(r.status == "failed" for r in results),
        "teachers": sorted({str(r.config.get("teacher", "?")) for r in results}),
        "tasks": sorted({str(r.config.get("task", "?")) for r in results}),
        "first_start": started[0] if started else None,
        "last_finish": finished[-1] if finished else None,
        "version": __version__,
    }
