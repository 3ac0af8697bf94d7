"""The study's methods comparison (one table and one figure per teacher and task) on hand-made
records of every kind of method, and on a committed report rendered through the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from greenprune_builtins.report_methods import compressor_label, method_labels
from greenprune_builtins.report_methods_figures import methods_view

from greenprune.report import render_reports
from greenprune.results import (
    EnergyReading,
    InferenceFigures,
    MemoryFigures,
    ModelReport,
    ModelSize,
    PhaseRecord,
    RunResult,
)
from tests.integration.test_cli import run
from tests.unit.test_study_figures import STSB

REPO = Path(__file__).resolve().parents[2]
ENV = {"cpu": "Test CPU", "cpu_cores": 2, "torch_threads": 2, "gpus": []}


def model(pearson: float, latency: float, joules: float, *, structured: float = 0.0, unstructured: float = 0.0,
          int8: bool = False, rss: int = 2_000_000, weights: int = 90_000_000) -> ModelReport:
    on_disk = 24_000_000 if int8 else 90_000_000
    by_dtype = {"I8": 20_000_000, "F32": 4_000_000} if int8 else {"F32": 90_000_000}
    inf = InferenceFigures(batch_size=32, seq_length=128, repeats=5, latency_ms_median=latency,
                           latency_ms_min=latency, latency_ms_max=latency, throughput_per_s=32e3 / latency,
                           energy_per_example_j={"rapl:cpu-package": joules},
                           energy=[EnergyReading(meter="rapl", joules=joules * 320, method="counter",
                                                 covers="cpu-package", window_s=2.0)],
                           memory=MemoryFigures(peak_rss_delta_bytes=rss, weight_bytes=weights))
    size = ModelSize(encoder_params=21_000_000, total_params=22_000_000, bytes_on_disk=on_disk,
                     measured_sparsity=structured, unstructured_sparsity=unstructured, bytes_by_dtype=by_dtype)
    return ModelReport(metrics={"dev": {"pearson": pearson, "spearman": pearson}}, size=size, inference=inf)


TEACHER = model(0.88, 40.0, 0.05)


def method_run(key: str, chain: list[str], tuner: str, sparsity: float | None, student: ModelReport,
               after: float | None = None, details: dict[str, dict[str, Any]] | None = None, task: str = "stsb",
               threads: int = 2) -> RunResult:
    details = details or {}
    phases = [PhaseRecord(name=f"compress:{c}", details=details.get(c, {})) for c in chain]
    phases.append(PhaseRecord(name=f"tune:{tuner}", details=details.get(tuner, {})))
    after_rep = ModelReport(metrics={"dev": {"pearson": after, "spearman": after}}) if after is not None else \
        ModelReport()
    return RunResult(run_key=key, started_at="2025-01-01T10:00:00", config={
        "teacher": "minilm", "task": task, "compressors": chain, "tuner": tuner, "sparsity": sparsity, "seed": 42},
        env={**ENV, "torch_threads": threads}, task={**STSB, "name": task}, phases=phases, teacher=TEACHER,
        student_after_compress=after_rep, student=student)


def methods() -> list[RunResult]:
    lora = {"lora": {"trainable_params": 150_000, "total_params": 22_000_000}}
    return [
        method_run("mag", ["magnitude"], "finetune", 0.5, model(0.86, 41.0, 0.051, unstructured=0.5), after=0.70,
                   details={"magnitude": {"target": 0.5}}),
        method_run("wanda", ["wanda"], "finetune", 0.5, model(0.865, 40.5, 0.05, unstructured=0.5), after=0.80,
                   details={"wanda": {"target": 0.5, "mode": "2:4", "method": "wanda 2:4"}}),
        method_run("cq", ["cofi", "quantize"], "finetune", 0.6,
                   model(0.85, 10.0, 0.012, structured=0.6, int8=True, weights=20_000_000), after=0.5,
                   details={"cofi": {"target_sparsity": 0.6}}),
        method_run("cl", ["cofi"], "lora", 0.6, model(0.84, 20.0, 0.025, structured=0.6), after=0.5,
                   details={"cofi": {"target_sparsity": 0.6}, **lora}),
        method_run("nl", ["none"], "lora", None, model(0.87, 40.0, 0.05), details=lora),
    ]


def test_labels_say_each_method_with_its_target_or_pattern() -> None:
    runs = {r.run_key: r for r in methods()}
    assert method_labels(list(runs.values())) == {
        "mag": "magnitude 0.5 / finetune", "wanda": "wanda 2:4 / finetune", "cq": "cofi 0.6 + quantize / finetune",
        "cl": "cofi 0.6 / lora", "nl": "none / lora"}
    assert compressor_label(runs["cq"], "quantize") == "quantize"
    # a differing setting the label already shows is not repeated; one it does not show is
    wanda = runs["wanda"].model_copy(update={"config": {**runs["wanda"].config, "options": {"wanda": {"mode": "2:4"}},
                                                        "train": {"learning_rate": 2e-5}}})
    old = wanda.model_copy(update={"run_key": "old", "phases": [PhaseRecord(name="compress:wanda",
                                                                            details={"target": 0.5})]})
    labels = method_labels([*(r for k, r in runs.items() if k != "wanda"), wanda, old])
    assert labels["wanda"] == "wanda 2:4 / finetune (train.learning_rate=2e-05)"
    assert labels["old"] == 'wanda 0.5 / finetune (train.learning_rate=2e-05, wanda.mode="2:4")'


def study_table(md: str, task: str = "stsb", teacher: str = "minilm") -> list[list[str]]:
    section = md[md.index("## Study"):]
    section = section[section.index(f"### Teacher {teacher} on {task}"):]
    block = section[section.index("| Method |"):]
    lines = block[:block.index("\n\n")].splitlines()
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[:1] + lines[2:]]


def test_one_table_compares_every_method_per_task(tmp_path: Path) -> None:
    sst2 = method_run("sst2-mag", ["magnitude"], "finetune", 0.5, model(0.9, 40.0, 0.05, unstructured=0.5),
                      task="sst2", details={"magnitude": {"target": 0.5}})
    md = render_reports([*methods(), sst2], tmp_path)[0].read_text()
    head, *rows = study_table(md)
    col = {h: i for i, h in enumerate(head)}
    by = {r[0]: r for r in rows}
    assert rows[0][0] == "teacher" and len(rows) == 6  # teacher first, one row per run
    assert "rapl: cpu-package, measured: counter" in head[col[next(h for h in head if h.startswith("J /"))]]
    mag, wanda = by["magnitude 0.5 / finetune"], by["wanda 2:4 / finetune"]
    assert mag[col["Sparsity (measured)"]] == "unstructured 50.0%"
    # right after pruning, before tuning, side by side: 0.70 / 0.88 and 0.80 / 0.88
    assert mag[col["pearson after compression (% of teacher)"]] == "0.7000 (79.5%)"
    assert wanda[col["pearson after compression (% of teacher)"]] == "0.8000 (90.9%)"
    assert mag[col["pearson final (% of teacher)"]] == "0.8600 (97.7%)"
    assert mag[col["Speed-up"]] == "0.98×"  # zeros in dense matrices: no faster
    cq = by["cofi 0.6 + quantize / finetune"]
    assert cq[col["Sparsity (measured)"]] == "structured 60.0%"
    assert cq[col["Stored as"]] == "int8 83%, fp32 17%" and cq[col["On disk (MB)"]] == "24.0"
    assert cq[col["Speed-up"]] == "4.00×" and cq[col["Weights in memory (MB)"]] == "20.0"
    assert cq[col["Peak inference memory Δ (MB)"]] == "2.0"
    assert by["cofi 0.6 / lora"][col["Trained parameters"]] == "0.68% (0.15M)"
    assert mag[col["Trained parameters"]] == "–"  # not recorded by this (hand-made) finetune phase
    assert by["teacher"][col["Speed-up"]] == "1× (ref)" and by["teacher"][col["Sparsity (measured)"]] == "dense"
    # SST-2's run has a table of its own
    _, *sst2_rows = study_table(md, "sst2")
    assert [r[0] for r in sst2_rows] == ["teacher", "magnitude 0.5 / finetune"]
    assert "different hardware" not in md[md.index("## Study"):]


def test_runs_on_different_threads_carry_the_hardware_note(tmp_path: Path) -> None:
    runs = methods()
    runs[0] = method_run("mag", ["magnitude"], "finetune", 0.5, model(0.86, 41.0, 0.051, unstructured=0.5),
                         details={"magnitude": {"target": 0.5}}, threads=1)
    md = render_reports(runs, tmp_path)[0].read_text()
    study = md[md.index("## Study"):]
    table_end = study.index("| Method |")
    assert "2 different hardware set-ups" in study[table_end:study.index("Runs on the Pareto")]


def test_the_figure_draws_every_method(tmp_path: Path) -> None:
    path = tmp_path / "methods.png"
    caption = methods_view(("minilm", "stsb"), methods(), path)
    assert caption is not None and "J per inference example, rapl: cpu-package, measured: counter" in caption
    assert "marker area = the model's weights in memory" in caption  # every run recorded its weight bytes
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000
    no_speed = [method_run("x", ["none"], "lora", None, ModelReport(metrics={"dev": {"pearson": 0.8}}))]
    assert methods_view(("minilm", "stsb"), no_speed, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_a_committed_report_renders_the_methods_view(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """reports/study-cpu (cofi, cofi + adapter, distill + cofi on three tasks) through ``greenprune report``."""
    code, _, err = run(["report", str(REPO / "reports" / "study-cpu"), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    md = (tmp_path / "report.md").read_text()
    for task in ("rte", "mrpc", "stsb"):
        head, *rows = study_table(md, task)
        assert rows[0][0] == "teacher" and len(rows) == 7
        assert {"cofi 0.6 / adapter", "distill + cofi 0.9 / finetune"} <= {r[0] for r in rows}
        share = rows[[r[0] for r in rows].index("cofi 0.6 / adapter")][head.index("Trained parameters")]
        assert re.fullmatch(r"\d+\.\d\d% \([\d,.M]+\)", share)  # the adapter phase recorded its trained share
    assert (tmp_path / "figures" / "study-minilm-stsb-methods.png").exists()


@pytest.mark.slow
def test_bench_records_what_the_methods_view_shows(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   fast_flags: list[str]) -> None:
    """Real runs on the tiny BERT: wanda's N:M label and every tuner's trained share come from the
    records the phases wrote, and the two pruners' scores before tuning sit side by side."""
    out = tmp_path / "out"
    for chain in (["--compressor", "magnitude", "--sparsity", "0.5"], ["--compressor", "wanda", "--set",
                                                                       "wanda.mode=2:4"]):
        code, _, err = run(["bench", "--out", str(out), *chain, "--meter", "cpu-estimate", *fast_flags], capsys)
        assert code == 0, err
    teacher = fast_flags[fast_flags.index("--teacher") + 1]
    head, *rows = study_table((out / "report.md").read_text(), "demo", teacher)
    by = {r[0].split(" (")[0]: r for r in rows}
    assert set(by) == {"teacher", "magnitude 0.5 / finetune", "wanda 2:4 / finetune"}
    after = head.index("accuracy after compression (% of teacher)")
    for label in ("magnitude 0.5 / finetune", "wanda 2:4 / finetune"):
        row = by[label]
        assert row[after] != "–" and row[head.index("Sparsity (measured)")].startswith("unstructured")
        assert row[head.index("Trained parameters")].startswith("100.00% (")  # full fine-tuning, as recorded
        assert row[head.index("Speed-up")].endswith("×")
        assert row[head.index("Peak inference memory Δ (MB)")] != "–"
