"""The report contract as a plugin author meets it: sections placed by their declared order, and a
compressor's own phase report (loss names, figures, notes) used by the built-in sections, with the
core knowing neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from greenprune.api import Component, Doc, FigureFile, PhaseReport, ReportInput, hookimpl
from greenprune.api import report_facts as facts
from greenprune.api import report_figures as figures
from greenprune.components import collect
from greenprune.plugins import make_plugin_manager
from greenprune.report import render_reports, sections_in_order
from greenprune.results import ModelReport, ModelSize, PhaseRecord, RunResult


class Hello:
    title = "Hello"

    def render(self, report: ReportInput, fmt: str) -> str:
        return Doc(fmt).para(f"{len(report.results)} runs").render()  # type: ignore[arg-type]


class Plugin:
    """A third-party plugin: a section placed between overview and comparison, and a compressor
    whose phase report names its loss part, draws a figure of its trace and notes its phase."""

    @hookimpl
    def greenprune_register_report_sections(self, register):  # type: ignore[no-untyped-def]
        register(Component("hello", factory=lambda _o: Hello(), order=150))

    @hookimpl
    def greenprune_register_compressors(self, register):  # type: ignore[no-untyped-def]
        register(Component("shrink", factory=lambda _o: None, phase_report=PhaseReport(
            loss_parts={"wobble": "how much it wobbled (shrink)"}, control_keys=frozenset({"knob"}),
            figures=knob_figure, figures_summary="shrink's knob", notes=lambda p: [f"{p.name}: shrunk nicely"])))


def knob_figure(key: tuple[str, str], runs: list[RunResult], stem: Path) -> list[FigureFile]:
    fig, ax = figures.axes()
    for r, _name, steps in facts.traces_of(runs, "compress:shrink"):
        ax.plot(*figures.trace_xy(steps, "knob"), label=facts.run_label(r, runs))
    path = Path(f"{stem}-shrink-knob.png")
    figures.finish(fig, ax, "knob", path)
    return [FigureFile(f"{key[1]}: the knob of shrink", path)]


def shrink_run() -> RunResult:
    layers = [{"layer": 0, "heads": 2, "q": 8, "k": 8, "v": 8, "ffn": 16, "hidden": 8}]
    return RunResult(
        run_key="r1", status="ok", started_at="2026-01-01T00:00:00Z",
        config={"teacher": "tiny", "task": "demo", "compressors": ["shrink"], "tuner": "finetune", "sparsity": 0.5,
                "seed": 1},
        task={"name": "demo", "metrics": ["accuracy"], "primary_metric": "accuracy", "dev_splits": ["dev"]},
        teacher=ModelReport(metrics={"dev": {"accuracy": 0.8}}),
        student=ModelReport(metrics={"dev": {"accuracy": 0.7}},
                            size=ModelSize(encoder_params=10, total_params=20, measured_sparsity=0.5, layers=layers)),
        phases=[PhaseRecord(name="compress:shrink", wall_s=1.0)],
        traces={"compress:shrink": [{"step": i, "lr": 0.1, "loss": 1.0 / (i + 1), "wobble": 0.5, "knob": i}
                                    for i in range(3)]},
    )


def test_sections_take_their_declared_place_and_compressors_speak_for_their_phases(tmp_path: Path) -> None:
    pm = make_plugin_manager(extra_plugins=[Plugin()])
    catalogue = collect(pm)
    names = [c.name for c in sections_in_order(catalogue)]
    assert names[:3] == ["overview", "hello", "comparison"] and names.index("study") > names.index("layers")

    md_path, _ = render_reports([shrink_run()], tmp_path, catalogue)
    md = md_path.read_text(encoding="utf-8")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Overview", "## Hello", "## Comparison"]
    assert "compress:shrink: shrunk nicely" in md  # the layers section shows the compressor's notes
    assert "shrink's knob and loss parts per step" in md  # named in the study section's list of figures
    assert "(figures/study-tiny-demo-shrink-knob.png)" in md
    # its loss part is named and drawn; its control key is not a loss part
    assert "loss parts logged during compress:shrink per step (loss: the total optimised; wobble: how much it " \
           "wobbled (shrink))" in md
    assert (tmp_path / "figures" / "study-tiny-demo-loss-compress-shrink.png").is_file()


def test_the_report_core_imports_no_plugin() -> None:
    code = ("import sys, greenprune.report, greenprune.api; "
            "assert not [m for m in sys.modules if m.startswith('greenprune_builtins')], sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
    core = Path(__file__).resolve().parents[2] / "greenprune" / "report"
    for path in core.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "greenprune_builtins" not in text, path
        assert not any(name in text for name in ("lambda_1", "cofi", "CoFi", "distill")), path
