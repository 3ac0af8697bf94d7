"""The study section and its figures on hand-made sweep results (traces, layers, energy)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from greenprune_builtins.report_study import Study
from greenprune_builtins.report_study_figures import pareto_front, study_figures, training_joules, training_source

from greenprune.components import collect
from greenprune.plugins import make_plugin_manager
from greenprune.report import phase_reports, render_reports
from greenprune.report.types import ReportInput
from greenprune.results import EnergyReading, InferenceFigures, ModelReport, ModelSize, PhaseRecord, RunResult

STSB = {"name": "stsb", "title": "GLUE STS-B", "kind": "regression", "metrics": ["pearson", "spearman"],
        "primary_metric": "pearson", "dev_splits": ["dev"], "source": "local TSV", "sizes": {"train": 64}}


def report_input(results: list[RunResult]) -> ReportInput:
    """The runs with the installed compressors' phase reports (CoFi's lambdas and loss names, distill's)."""
    return ReportInput(results, phase_reports(collect(make_plugin_manager())))


def energy(joules: float | None, meter: str = "rapl", covers: str = "cpu-package",
           method: str = "counter") -> EnergyReading:
    return EnergyReading(meter=meter, joules=joules, method=method, covers=covers, window_s=2.0)


def model(pearson: float, latency: float, j_per_example: float, layers: list[dict[str, Any]],
          measured: float, params: int) -> ModelReport:
    inf = InferenceFigures(batch_size=8, seq_length=64, repeats=3, latency_ms_median=latency,
                           latency_ms_min=latency, latency_ms_max=latency, throughput_per_s=8e3 / latency,
                           energy_per_example_j={"rapl:cpu-package": j_per_example},
                           energy=[energy(j_per_example * 100)])
    return ModelReport(metrics={"dev": {"pearson": pearson, "spearman": pearson - 0.02}},
                       size=ModelSize(encoder_params=params, total_params=params + 1_000_000,
                                      measured_sparsity=measured, layers=layers),
                       inference=inf)


def layers(n: int, ffn: list[int | None], qkv: list[int | None]) -> list[dict[str, Any]]:
    return [{"layer": i, "q": qkv[i], "k": qkv[i], "v": qkv[i], "heads": None if qkv[i] is None else qkv[i] // 64,
             "ffn": ffn[i], "hidden": 384} for i in range(n)]


TEACHER = model(0.88, 20.0, 0.05, layers(3, [1536] * 3, [384] * 3), 0.0, 21_000_000)


def cofi_trace(target: float, steps: int = 12) -> list[dict[str, float]]:
    out = []
    for i in range(1, steps + 1):
        t = target * min(1.0, i / (steps / 2))
        out.append({"step": i, "lr": 5e-5, "hard": 0.9 - i * 0.02 * target, "pred": 0.5 - i * 0.01 * target,
                    "layer": 0.3 * target, "lagrangian": 0.05 * target * (-1) ** i, "expected_sparsity": t * 0.95,
                    "target": t, "lambda_1": -0.1 * i * target, "lambda_2": 0.05 * i * target,
                    "loss": 1.0 - i * 0.03 * target})
    return out


def sweep_run(key: str, chain: list[str], tuner: str, sparsity: float | None, pearson: float,
              **kw: Any) -> RunResult:
    s = sparsity or 0.0
    student = model(pearson, 20.0 * (1 - s) + 1, 0.05 * (1 - s) + 0.001,
                    kw.pop("layers", layers(3, [1536, int(1536 * (1 - s)) or None, None], [384, 192, None])),
                    s, int(21_000_000 * (1 - s)))
    phases = [PhaseRecord(name="teacher-finetune", wall_s=100, energy=[energy(500.0)])]
    traces: dict[str, list[dict[str, float]]] = {}
    for name in chain:
        phases.append(PhaseRecord(name=f"compress:{name}", wall_s=50 + 100 * s, energy=[energy(200 + 300 * s)]))
        if name == "cofi":
            traces["compress:cofi"] = cofi_trace(s)
        elif name == "distill":
            traces["compress:distill"] = [{"step": i, "kd": 1 / i, "hidden": 2 / i, "hard": 0.7, "loss": 3 / i}
                                          for i in range(1, 9)]
    phases.append(PhaseRecord(name=f"tune:{tuner}", wall_s=40, cache_hit=kw.pop("cache_hit", False),
                              energy=[energy(150.0), energy(None, meter="nvml", covers="gpu:0")]))
    after = ModelReport(metrics={"dev": {"pearson": pearson - 0.1, "spearman": pearson - 0.12}}) if sparsity else \
        ModelReport()
    return RunResult(run_key=key, started_at="2025-01-01T10:00:00", finished_at="2025-01-01T11:00:00",
                     config={"teacher": "minilm", "task": "stsb", "compressors": chain, "tuner": tuner,
                             "sparsity": sparsity, "seed": 42},
                     task=STSB, phases=phases, teacher=TEACHER, student_after_compress=after,
                     student=student, traces=traces, **kw)


def study_results() -> list[RunResult]:
    """A small STS-B sweep: dense baseline, cofi and distill+cofi at two sparsities, one failure, and
    an RTE group with a dense run only (no traces, no sparsity, no energy)."""
    runs = [sweep_run("dense", ["none"], "finetune", None, 0.88, cache_hit=True),
            sweep_run("cofi-60", ["cofi"], "finetune", 0.6, 0.86),
            sweep_run("cofi-90", ["cofi"], "finetune", 0.9, 0.80),
            sweep_run("dc-60", ["distill", "cofi"], "adapter", 0.6, 0.84,
                      layers=layers(2, [700, None], [None, 128])),
            sweep_run("dc-90", ["distill", "cofi"], "adapter", 0.9, 0.83,
                      layers=layers(2, [300, None], [None, 64])),
            RunResult(run_key="oom", status="failed", error="cell process was killed by SIGKILL",
                      started_at="2025-01-01T12:00:00",
                      config={"teacher": "minilm", "task": "stsb", "compressors": ["cofi"], "tuner": "adapter",
                              "sparsity": 0.95, "seed": 42})]
    rte = RunResult(run_key="rte-dense", started_at="2025-01-01T10:00:00",
                    config={"teacher": "minilm", "task": "rte", "compressors": ["none"], "tuner": "finetune",
                            "sparsity": None, "seed": 42},
                    task={"name": "rte", "metrics": ["accuracy"], "primary_metric": "accuracy", "dev_splits": ["dev"]},
                    teacher=ModelReport(metrics={"dev": {"accuracy": 0.7}}),
                    student=ModelReport(metrics={"dev": {"accuracy": 0.71}},
                                        size=ModelSize(encoder_params=1, total_params=2, measured_sparsity=0.0)))
    return [*runs, rte]


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    fig_dir = tmp_path_factory.mktemp("figs")
    runs = [r for r in study_results() if r.config["task"] == "stsb"]
    found = study_figures(report_input(runs), ("minilm", "stsb"), runs, fig_dir)
    return {re.sub(r"^study-minilm-stsb-", "", p.name).removesuffix(".png"): p for _, p in found}


def test_every_study_figure_is_drawn(figures: dict[str, Path]) -> None:
    assert set(figures) == {"methods", "pearson-vs-sparsity", "spearman-vs-sparsity", "inference-energy-vs-sparsity",
                            "training-time-vs-sparsity", "pareto-inference-energy", "pareto-training-energy",
                            "cofi-lambdas", "loss-compress-cofi", "loss-compress-distill"}
    for path in figures.values():
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 5_000


def test_figures_skipped_without_data(tmp_path: Path) -> None:
    rte = [r for r in study_results() if r.config["task"] == "rte"]
    names = [p.name for _, p in study_figures(report_input(rte), ("minilm", "rte"), rte, tmp_path)]
    assert names == ["study-minilm-rte-accuracy-vs-sparsity.png"]  # no energy, times or traces recorded
    failed = [r for r in study_results() if r.status == "failed"]
    assert study_figures(report_input(failed), ("minilm", "stsb"), failed, tmp_path) == []


def test_pareto_front_keeps_undominated_points() -> None:
    pts = [(1.0, 0.5), (2.0, 0.7), (2.0, 0.6), (3.0, 0.65), (4.0, 0.9), (0.5, 0.4)]
    assert pareto_front(pts) == [(0.5, 0.4), (1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]


def test_training_energy_is_one_meter_and_never_from_cache() -> None:
    runs = {r.run_key: r for r in study_results()}
    # nvml saw no sensor, so rapl is the source; never a sum of the two
    assert training_source(list(runs.values())) == ("rapl", "cpu-package")
    assert training_joules(runs["cofi-60"], ("rapl", "cpu-package")) == pytest.approx(200 + 180 + 150)
    assert training_joules(runs["cofi-60"], ("nvml", "gpu:0")) is None
    assert training_joules(runs["dense"], ("rapl", "cpu-package")) is None  # tune served from the cache


def test_section_layer_tables_and_frontier() -> None:
    md = Study().render(report_input(study_results()), "markdown")
    assert not re.search(r"^## ", md, re.M) and "### Teacher minilm on stsb" in md
    qkv = md[md.index("Q/K/V output widths"):md.index("FFN up-projection")]
    # distill+cofi at 60%: attention of layer 0 removed, layer 2 absent (distilled to 2 layers)
    header = next(line for line in qkv.splitlines() if line.startswith("| Layer"))
    col = [c.strip() for c in header.split("|")].index("distill+cofi / adapter @ 60%")
    rows = [[c.strip() for c in line.split("|")] for line in qkv.splitlines() if re.match(r"\| \d", line)]
    assert [r[col] for r in rows] == ["None", "128/128/128", "–"]
    assert rows[0][2] == "384/384/384"  # the teacher column
    ffn = md[md.index("FFN up-projection"):]
    assert "| 2 | 1536 |" in ffn and "None" in ffn
    assert "Pareto frontier" in md and "(rapl: cpu-package, measured: counter)" in md
    html = Study().render(report_input(study_results()), "html")
    assert "<table>" in html and "None" in html


def test_full_report_with_study_section(tmp_path: Path) -> None:
    md, html = render_reports(study_results(), tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "## Study: trade-offs across runs" in text and "failed to render" not in text
    links = re.findall(r"!\[[^\]]*\]\((figures/study-[^)]+\.png)\)", text)
    assert len(links) == 11  # 10 for STS-B, 1 for RTE (no speed-up recorded: no methods figure)
    assert all((tmp_path / link).is_file() for link in links)
    assert html.read_text(encoding="utf-8").count('src="data:image/png;base64,') >= len(links)


def test_study_registers_as_a_report_section_plugin() -> None:
    from greenprune_builtins import report_study

    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager

    catalogue = collect(make_plugin_manager(load_entry_points=False, extra_plugins=[report_study]))
    assert catalogue.names("report_section") == ["study"]
    assert catalogue.get("report_section", "study").build().title.startswith("Study")


def test_layer_tables_put_a_distilled_students_layers_in_their_teacher_rows() -> None:
    runs = study_results()
    dc60 = next(r for r in runs if r.run_key == "dc-60")
    distill = next(p for p in dc60.phases if p.name == "compress:distill")
    distill.details["layer_map"] = {"0": 0, "1": 2}  # kept teacher layers 0 and 2
    md = Study().render(report_input(runs), "markdown")
    qkv = md[md.index("Q/K/V output widths"):md.index("FFN up-projection")]
    assert "dropped by the student" in qkv
    header = next(line for line in qkv.splitlines() if line.startswith("| Teacher layer"))
    col = [c.strip() for c in header.split("|")].index("distill+cofi / adapter @ 60%")
    rows = [[c.strip() for c in line.split("|")] for line in qkv.splitlines() if re.match(r"\| \d", line)]
    assert [r[col] for r in rows] == ["None", "–", "128/128/128"]
