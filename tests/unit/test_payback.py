"""Energy payback (derived), the headline, the model card and the hardware note, on hand-made results."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from greenprune.headline import print_headline
from greenprune.model_card import render_card, write_card
from greenprune.payback import payback, payback_text
from greenprune.report import render_reports
from greenprune.report.hardware import hardware, hardware_note
from greenprune.results import (
    EnergyReading,
    InferenceFigures,
    ModelReport,
    ModelSize,
    PerExampleEnergy,
    PhaseRecord,
    RunResult,
)

SOURCE = "cpu-estimate:process-cpu"
ENV = {"cpu": "AMD EPYC", "cpu_cores": 2, "torch_threads": 2, "gpus": [], "versions": {"greenprune": "0.1.0"}}
TASK = {"name": "demo", "title": "Demo (synthetic)", "kind": "classification", "metrics": ["accuracy"],
        "primary_metric": "accuracy", "dev_splits": ["dev"], "synthetic": True, "source": "embedded synthetic"}


def reading(joules: float | None) -> EnergyReading:
    return EnergyReading(meter="cpu-estimate", joules=joules, method="estimate", covers="process-cpu", window_s=2.0)


def figures(latency: float, values: list[float]) -> InferenceFigures:
    spread = PerExampleEnergy(method="estimate", windows=len(values), values_j=values, median_j=sorted(values)[1],
                              min_j=min(values), max_j=max(values))
    return InferenceFigures(batch_size=32, seq_length=32, repeats=5, latency_ms_median=latency,
                            latency_ms_min=latency, latency_ms_max=latency, throughput_per_s=1000 / latency,
                            energy_per_example_j={SOURCE: spread.median_j}, energy_per_example={SOURCE: spread},
                            energy=[reading(1.0)])


def result(key: str, sparsity: float, student_j: list[float], *, env: dict | None = None,
           cost: tuple[float | None, float] = (100.0, 20.0), accuracy: float = 0.8) -> RunResult:
    return RunResult(
        run_key=key, started_at="2026-12-03T10:00:00", finished_at="2026-12-03T10:05:00",
        config={"teacher": "minilm", "task": "demo", "compressors": ["cofi"], "tuner": "finetune",
                "sparsity": sparsity, "seed": 42},
        env=env or ENV, task=TASK,
        phases=[PhaseRecord(name="teacher-finetune", wall_s=50, energy=[reading(500.0)]),
                PhaseRecord(name="compress:cofi", wall_s=30, energy=[reading(cost[0])]),
                PhaseRecord(name="evaluate:compressed", wall_s=1, energy=[reading(7.0)]),
                PhaseRecord(name="tune:finetune", wall_s=10, energy=[reading(cost[1])])],
        teacher=ModelReport(metrics={"dev": {"accuracy": 0.9}},
                            size=ModelSize(encoder_params=100, total_params=1000, bytes_on_disk=4000,
                                           measured_sparsity=0.0),
                            inference=figures(20.0, [0.10, 0.11, 0.12])),
        student_after_compress=ModelReport(metrics={"dev": {"accuracy": 0.5}}),
        student=ModelReport(metrics={"dev": {"accuracy": accuracy}},
                            size=ModelSize(encoder_params=50, total_params=600, bytes_on_disk=2400,
                                           measured_sparsity=sparsity),
                            inference=figures(10.0, student_j)),
    )


def test_payback_is_compression_energy_over_the_saving_with_a_window_range() -> None:
    (pb,) = payback(result("a", 0.5, [0.05, 0.06, 0.07]))
    # cost: compress + tune only (not the teacher's fine-tune, not the evaluations)
    assert pb.cost_j == pytest.approx(120.0) and pb.method == "estimate" and pb.source == SOURCE
    assert pb.saved_per_example_j == pytest.approx(0.11 - 0.06)
    assert (pb.saved_low_j, pb.saved_high_j) == (pytest.approx(0.10 - 0.07), pytest.approx(0.12 - 0.05))
    assert pb.examples == pytest.approx(120 / 0.05)
    assert (pb.examples_low, pb.examples_high) == (pytest.approx(120 / 0.07), pytest.approx(120 / 0.03))
    assert "after 2,400 inference examples [1,714–4,000]" in payback_text(pb)


def test_no_saving_never_pays_back_and_missing_figures_stay_missing() -> None:
    (worse,) = payback(result("b", 0.5, [0.11, 0.12, 0.13]))
    assert worse.saved_per_example_j == pytest.approx(-0.01) and worse.examples is None
    assert payback_text(worse).startswith("never")
    (overlap,) = payback(result("c", 0.5, [0.09, 0.10, 0.115]))  # median saves, the worst windows do not
    assert overlap.examples is not None and overlap.examples_high is None
    (unknown,) = payback(result("d", 0.5, [0.05, 0.06, 0.07], cost=(None, 20.0)))
    assert unknown.cost_j is None and unknown.examples is None
    failed = result("e", 0.5, [0.05, 0.06, 0.07])
    failed.status = "failed"
    assert payback(failed) == []


def test_payback_is_derived_not_stored() -> None:
    r = result("a", 0.5, [0.05, 0.06, 0.07])
    assert "payback" not in r.model_dump_json()  # read-time only: a result holds measurements


def test_hardware_note_only_when_runs_differ() -> None:
    same = [result("a", 0.5, [0.05, 0.06, 0.07]), result("b", 0.9, [0.02, 0.03, 0.04])]
    assert hardware_note(same) == []
    other = result("c", 0.9, [0.02, 0.03, 0.04], env={**ENV, "cpu": "Intel Xeon", "torch_threads": 1})
    lines = hardware_note([*same, other])
    assert len(lines) == 3 and "2 different hardware" in lines[0] and "within its own run" in lines[0]
    assert any(line.startswith("Intel Xeon, 2 cores, 1 torch thread, no GPU: ") and "(run c)" in line
               for line in lines)
    assert hardware(result("x", 0.5, [0.1, 0.1, 0.1], env={})) == "AMD EPYC, 2 cores, 2 torch threads, no GPU"


def test_report_has_the_payback_table_figure_and_the_hardware_note(tmp_path: Path) -> None:
    runs = [result("a", 0.5, [0.05, 0.06, 0.07]),
            result("b", 0.9, [0.02, 0.03, 0.04], env={**ENV, "cpu": "Intel Xeon", "torch_threads": 1})]
    md_path, html_path = render_reports(runs, tmp_path)
    md = md_path.read_text()
    section = md[md.index("## Energy payback"):]
    assert "Pays back after (examples)" in section and "2,400 \\[1,714–4,000\\]" in section
    assert "estimate, cpu-estimate:process-cpu" in section and "Derived, not measured" in section
    assert (tmp_path / "figures" / "payback-minilm-demo.png").is_file()
    assert "payback-minilm-demo.png" in md
    # the comparison table of runs on two machines says so, with each run's hardware
    comparison = md[md.index("## Comparison"):md.index("## Energy payback")]
    assert "2 different hardware" in comparison and "Intel Xeon, 2 cores, 1 torch thread" in comparison
    assert "Energy payback" in html_path.read_text()


def test_headline_rows_per_student() -> None:
    out = io.StringIO()
    from rich.console import Console

    print_headline([result("a", 0.5, [0.05, 0.06, 0.07], accuracy=0.81)], Path("out/report.html"),
                   Console(file=out, width=200))
    text = out.getvalue()
    assert "cofi / finetune @ 0.5" in text and "90.0% (0.810/0.900 accuracy)" in text
    assert "2.00×" in text and "60% on disk, sparsity 50.0%" in text
    assert "≈0.0500 J (estimate)" in text and "2,400 examples [1,714–4,000] (estimate)" in text
    assert "report: out/report.html" in text


def test_model_card_in_the_student_folder(tmp_path: Path) -> None:
    r = result("a", 0.5, [0.05, 0.06, 0.07])
    assert write_card(r) is None  # no saved student: no card
    r.extra["student_path"] = str(tmp_path / "models" / "a")
    (tmp_path / "models" / "a").mkdir(parents=True)
    card = write_card(r)
    assert card == tmp_path / "models" / "a" / "README.md"
    text = card.read_text()
    import yaml

    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["pipeline_tag"] == "text-classification" and "synthetic-data" in meta["tags"]
    assert meta["model-index"][0]["results"][0]["metrics"][0] == {"type": "accuracy", "value": 0.8,
                                                                  "name": "accuracy (dev)"}
    for part in ("SYNTHETIC", "| dev | accuracy | 0.9000 | 0.5000 | 0.8000 | 88.9% |", "2.00×",
                 "AMD EPYC (2 cores, 2 torch threads)", "compress:cofi (cpu-estimate, process-cpu): ≈100 J (estimate)",
                 "Payback (cpu-estimate:process-cpu, estimate): after 2,400", "load_student", "greenprune verify"):
        assert part in text, part
    assert render_card(r, Path("x"), ["compress:cofi: target 0.500, measured 0.500"]).count("target 0.500") == 1
