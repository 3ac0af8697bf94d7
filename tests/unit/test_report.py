"""The report renderer and the built-in sections, on hand-made results (no models, no runner)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from greenprune.components import Component
from greenprune.report import render_reports
from greenprune.report.markup import sig3
from greenprune.report.types import ReportInput
from greenprune.results import (
    EnergyReading,
    InferenceFigures,
    ModelReport,
    ModelSize,
    PhaseRecord,
    RunResult,
)

TASK = {
    "name": "demo", "title": "Demo", "kind": "classification", "metrics": ["accuracy", "f1"],
    "primary_metric": "accuracy", "dev_splits": ["dev"], "synthetic": True,
    "source": "embedded synthetic", "sizes": {"train": 100, "dev": 50},
    "notes": ["synthetic demo task", "train subsampled to 100 of 800 examples (seed 42)"],
}
ENV = {"python": "3.11.2", "torch": "2.13.0", "device": "cpu"}


def reading(joules: float | None, meter: str = "rapl", method: str = "counter", covers: str = "cpu-package",
            note: str = "") -> EnergyReading:
    return EnergyReading(meter=meter, joules=joules, method=method, covers=covers, window_s=2.0, note=note)


def inference(latency_ms: float, per_example: dict[str, float | None], readings: list[EnergyReading]) -> Any:
    return InferenceFigures(batch_size=32, seq_length=128, repeats=5, latency_ms_median=latency_ms,
                            latency_ms_min=latency_ms * 0.9, latency_ms_max=latency_ms * 1.1,
                            throughput_per_s=32_000 / latency_ms, energy_per_example_j=per_example,
                            energy=readings)


def layers(ffn_last: int | None) -> list[dict[str, Any]]:
    return [{"layer": i, "heads": 12, "q": 384, "k": 384, "v": 384, "ffn": 1536 if i < 2 else ffn_last,
             "hidden": 384} for i in range(3)]


TEACHER = ModelReport(
    metrics={"dev": {"accuracy": 0.9, "f1": 0.88}},
    size=ModelSize(encoder_params=21_233_664, total_params=22_713_216, bytes_on_disk=90_868_000,
                   measured_sparsity=0.0, layers=layers(1536)),
    inference=inference(20.0, {"rapl": 0.05}, [reading(3.2)]),
)


def run(key: str, compressors: list[str], sparsity: float | None, accuracy: float, latency: float,
        **kw: Any) -> RunResult:
    teacher_phase = PhaseRecord(name="teacher-finetune", wall_s=1.5, cache_hit=True, energy=[reading(4.0)])
    phases = [teacher_phase,
              PhaseRecord(name=f"compress:{compressors[0]}", wall_s=30.0, energy=[reading(100.0)],
                          details=kw.pop("compress_details", {})),
              PhaseRecord(name="tune:finetune", wall_s=12.5, energy=kw.pop("tune_energy", [reading(40.0)]))]
    student = ModelReport(
        metrics={"dev": {"accuracy": accuracy, "f1": accuracy - 0.01}},
        size=ModelSize(encoder_params=kw.pop("encoder", 21_233_664), total_params=kw.pop("total", 22_713_216),
                       bytes_on_disk=kw.pop("bytes", 90_868_000), measured_sparsity=kw.pop("measured", 0.0),
                       layers=kw.pop("layers", [])),
        inference=inference(latency, *kw.pop("energy", ({"rapl": 0.05}, [reading(3.2)]))),
    )
    return RunResult(run_key=key, started_at="2025-01-01T10:00:00", finished_at="2025-01-01T10:05:00",
                     config={"teacher": "minilm", "task": "demo", "compressors": compressors,
                             "tuner": "finetune", "sparsity": sparsity},
                     env=ENV, task=TASK, phases=phases, teacher=TEACHER, student=student, **kw)


@pytest.fixture(scope="module")
def results() -> list[RunResult]:
    dense = run("run-none", ["none"], None, 0.91, 20.0)
    half = run("run-half", ["cofi"], 0.5, 0.85, 10.0, encoder=10_616_832, total=12_096_384,
               bytes=48_400_000, measured=0.5, layers=layers(768),
               student_after_compress=ModelReport(metrics={"dev": {"accuracy": 0.7, "f1": 0.6}}))
    sparse = run("run-sparse", ["cofi"], 0.9, 0.8, 5.0, encoder=2_123_366, total=3_602_918,
                 bytes=14_400_000, measured=0.9, layers=layers(None),
                 compress_details={"target_sparsity": 0.9, "measured_sparsity_of_input": 0.9, "final_mask_shift": 1.36,
                                   "align_widths": 8, "expected_sparsity_final": 0.899,
                                   "measured_sparsity_cofi_rule": 0.912},
                 tune_energy=[reading(40.0), reading(None, meter="nvml", covers="gpu:0",
                                                     note="no NVIDIA GPU visible")],
                 energy=({"cpu-estimate": 0.0123}, [reading(0.9, meter="cpu-estimate", method="estimate",
                                                            covers="process-cpu")]))
    failed = RunResult(run_key="run-failed", status="failed", error="RuntimeError: out of memory | at step 3",
                       started_at="2025-01-01T11:00:00",
                       config={"teacher": "minilm", "task": "demo", "compressors": ["cofi"],
                               "tuner": "finetune", "sparsity": 0.95}, env=ENV, task=TASK)
    return [sparse, dense, failed, half]


@pytest.fixture(scope="module")
def rendered(results: list[RunResult], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    out = tmp_path_factory.mktemp("report")
    md, html = render_reports(results, out)
    return out, md.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")


def table_row(md: str, *starts: str) -> str:
    """The Markdown table line that starts with these cells."""
    prefix = "| " + " | ".join(starts) + " |"
    found = [line for line in md.splitlines() if line.startswith(prefix)]
    assert found, f"no row starting {prefix!r}"
    return found[0]


def test_files_written(rendered: tuple[Path, str, str]) -> None:
    out, md, _ = rendered
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    links = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    comparison = [link for link in links if link.startswith("figures/comparison-")]
    assert len(comparison) == 3  # metric, size, speed-up for the one (teacher, task) group
    for link in links:
        assert (out / link).is_file() and (out / link).read_bytes().startswith(b"\x89PNG")
    assert "failed to render" not in md


def test_comparison_numbers(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    head = "| Model | Compressors | Tuner | Target sparsity | dev accuracy | dev f1 | Δ accuracy (dev) |"
    assert head in md
    assert table_row(md, "teacher", "–", "–", "–", "0.9000", "0.8800", "ref")
    assert table_row(md, "student", "none", "finetune", "–", "0.9100", "0.9000", "+0.0100")
    assert table_row(md, "student", "cofi", "finetune", "50.0%", "0.8500", "0.8400", "-0.0500")
    assert table_row(md, "after compress", "cofi", "finetune", "50.0%", "0.7000", "0.6000", "-0.2000")
    assert table_row(md, "student", "cofi", "finetune", "90.0%", "0.8000", "0.7900", "-0.1000")
    # cost table: params, MB, measured sparsity, latency, speed-up = 20 ms / 10 ms, energy with method
    half = table_row(md, "student", "cofi", "finetune", "50.0%", "10.62M")
    # results written before unstructured sparsity and bytes per dtype were recorded show dashes
    assert "| 12.10M | 48.4 | – | 50.0% | – | 10.00 | 2.00× | 0.0500 J (counter, rapl: cpu-package) |" in half
    assert "42.5 s |" in half  # compress 30 s + tune 12.5 s
    sparse = table_row(md, "student", "cofi", "finetune", "90.0%", "2.12M")
    assert "4.00× | ≈0.0123 J (estimate, cpu-estimate: process-cpu)" in sparse
    assert table_row(md, "teacher", "–", "–", "–", "21.23M")
    assert "| 1.00× |" in table_row(md, "teacher", "–", "–", "–", "21.23M")
    assert "1.50 s (reused from cache)" in table_row(md, "teacher", "–", "–", "–", "21.23M")


def test_overview_methods_and_failures(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    assert "Data source: embedded synthetic" in md
    assert "Note: train subsampled to 100 of 800 examples (seed 42)" in md
    assert "Runs: 4 (3 ok, 1 failed)" in md
    assert "| rapl | counter | cpu-package |" in md
    assert "| cpu-estimate | estimate | process-cpu |" in md and "ESTIMATE, not a measurement" in md
    assert "- torch: 2.13.0" in md
    # the failed run's error, verbatim in a code block
    assert "RuntimeError: out of memory | at step 3" in md


def test_phases_and_layers(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    assert "| teacher-finetune | 1.50 | reused (cache) | rapl | cpu-package | counter | 4.00 J |" in md
    assert "| nvml | gpu:0 | counter | no sensor | – | – | 2.00 | no NVIDIA GPU visible |" in md
    assert "| Layer | Heads | Q dim | K dim | V dim | FFN width | Hidden |" in md
    assert "| 2 | 12 | 384 | 384 | 384 | None (removed) | 384 |" in md
    assert "| 2 | 12 | 384 | 384 | 384 | 768 | 384 |" in md


def test_html_is_self_contained(rendered: tuple[Path, str, str]) -> None:
    out, md, html = rendered
    assert list(out.glob("*.html")) == [out / "report.html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    imgs = re.findall(r"<img\b[^>]*>", html)
    assert len(imgs) == md.count("![")
    for img in imgs:
        assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', img)
    assert "2.00×" in html and "≈0.0123 J" in html and "no sensor" in html
    # text from results is escaped, never interpreted
    assert "out of memory | at step 3" in html


def test_empty_and_custom_sections(tmp_path: Path) -> None:
    class Broken:
        title = "Broken"

        def render(self, report: ReportInput, fmt: str) -> str:
            raise ValueError("boom")

    class Hello:
        title = "Hello"

        def render(self, report: ReportInput, fmt: str) -> str:
            return "<p>hi</p>" if fmt == "html" else "hi"

    sections = [Component(name="broken", factory=lambda _o: Broken()),
                Component(name="hello", factory=lambda _o: Hello())]
    with pytest.warns(UserWarning, match="boom"):
        md, html = render_reports([], tmp_path, sections=sections)
    text = md.read_text(encoding="utf-8")
    assert "## Hello" in text and "hi" in text and "ValueError: boom" in text
    assert '<section id="hello">' in html.read_text(encoding="utf-8")
    # the defaults cope with no runs at all
    md, _ = render_reports([], tmp_path / "empty")
    assert "No runs." in md.read_text(encoding="utf-8")


def test_sections_registered_through_the_hook() -> None:
    from greenprune_builtins import report_sections

    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager

    pm = make_plugin_manager(load_entry_points=False, extra_plugins=[report_sections])
    names = list(collect(pm).by_kind["report_section"])
    assert names == ["overview", "comparison", "phases", "layers"]


@pytest.mark.parametrize(("x", "text"), [(0.012345, "0.0123"), (9.996, "10.0"), (1234.5, "1230"),
                                         (3.0, "3.00"), (1.5e-7, "1.50e-07")])
def test_sig3(x: float, text: str) -> None:
    assert sig3(x) == text


def test_layers_section_says_how_cofi_landed_on_its_target(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    assert ("compress:cofi: target 0.900, measured 0.900 (of its input); gates' expected sparsity at the end "
            "0.899, CoFi's rule alone 0.912; final masks shifted by +1.36") in md
    assert "FFN and hidden widths rounded to multiples of 8" in md


def test_runs_that_differ_in_a_setting_are_told_apart(tmp_path: Path) -> None:
    """CoFi with and without distillation share chain, tuner and sparsity: the tables, headings and
    figure lines name the setting that differs instead of merging the two."""
    from greenprune.report import facts

    with_kd = run("run-kd", ["cofi"], 0.6, 0.86, 10.0, measured=0.6)
    no_kd = run("run-nokd", ["cofi"], 0.6, 0.84, 10.0, measured=0.6)
    no_kd.config["options"] = {"cofi": {"distill": False, "epochs": 3}}
    with_kd.config["options"] = {"cofi": {"epochs": 3}}
    group = [with_kd, no_kd]
    assert facts.distinguishing_settings(no_kd, group) == ["cofi.distill=false"]
    assert facts.distinguishing_settings(with_kd, group) == []  # the default: nothing to name
    assert facts.variant(no_kd, group) == "cofi / finetune (cofi.distill=false)"
    assert facts.variant(with_kd, group) == "cofi / finetune"
    # Seeds and sparsities are axes, not variants.
    other_seed = run("run-seed", ["cofi"], 0.9, 0.8, 10.0)
    other_seed.config["seed"] = 7
    assert facts.distinguishing_settings(other_seed, [with_kd, other_seed]) == []
    # A train setting added later, recorded at the value that trains as older runs did, is no difference
    # (nor is the optimizer kernel, which only rounds differently); at another value it is one.
    older, newer = run("run-old", ["cofi"], 0.6, 0.85, 10.0), run("run-new", ["cofi"], 0.6, 0.85, 10.0)
    older.config["train"] = {"epochs": 3.0}
    newer.config["train"] = {"epochs": 3.0, "mixed_precision": "no", "fused_optimizer": True}
    assert facts.distinguishing_settings(newer, [older, newer]) == []
    newer.config["train"]["mixed_precision"] = "bf16"
    assert facts.distinguishing_settings(newer, [older, newer]) == ['train.mixed_precision="bf16"']

    md_path, _ = render_reports(group, tmp_path)
    md = md_path.read_text(encoding="utf-8")
    assert "| Model | Compressors | Tuner | Settings | Target sparsity |" in md
    assert table_row(md, "student", "cofi", "finetune", "cofi.distill=false", "60.0%")
    assert table_row(md, "student", "cofi", "finetune", "–", "60.0%")
    assert "#### cofi / finetune (cofi.distill=false), sparsity 60.0% (run run-nokd)" in md


def test_no_settings_column_when_runs_differ_only_in_chain(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    assert "Settings" not in md


def test_layers_section_names_the_teacher_layer_of_a_distilled_student(tmp_path: Path) -> None:
    two = [{"layer": i, "heads": 12, "q": 384, "k": 384, "v": 384, "ffn": 1536, "hidden": 384} for i in range(2)]
    distilled = run("run-distill", ["distill"], None, 0.8, 7.0, layers=two,
                    compress_details={"kept_layers": [1, 5], "layer_map": {"0": 1, "1": 5}})
    md_path, _ = render_reports([distilled], tmp_path)
    md = md_path.read_text(encoding="utf-8")
    assert "| Layer | Teacher layer | Heads | Q dim | K dim | V dim | FFN width | Hidden |" in md
    assert "| 0 | 1 | 12 | 384 |" in md and "| 1 | 5 | 12 | 384 |" in md
    assert "Teacher layer: the 0-based teacher layer" in md


def test_no_teacher_layer_column_without_a_layer_map(rendered: tuple[Path, str, str]) -> None:
    _, md, _ = rendered
    assert "Teacher layer" not in md


def test_half_zero_student_is_not_shown_as_dense(tmp_path: Path) -> None:
    """A student whose encoder weights are half zeros (nothing removed) shows 0% structured and 50%
    unstructured sparsity: never a bare 0% beside its target."""
    zeros = run("run-zeros", ["magnitude"], 0.5, 0.88, 20.0, measured=0.0)
    assert zeros.student.size is not None
    zeros.student.size.encoder_nonzero = 21_233_664 // 2
    zeros.student.size.unstructured_sparsity = 0.5
    md, _ = render_reports([zeros], tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "| Structured sparsity | Unstructured sparsity |" in text
    assert "| 0.0% | 50.0% |" in table_row(text, "student", "magnitude", "finetune", "50.0%", "21.23M")


def test_stored_as_reads_bytes_per_dtype() -> None:
    from greenprune.report import facts
    from greenprune.results import ModelReport, ModelSize

    rep = ModelReport(size=ModelSize(encoder_params=1, total_params=1, bytes_by_dtype={"F32": 250, "I8": 740,
                                                                                     "I64": 10}))
    assert facts.stored_as(rep) == "int8 74%, fp32 25%, int64 1%"
    assert facts.stored_as(ModelReport()) is None
