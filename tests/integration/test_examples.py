"""The worked examples of docs/plugins.md (packages under examples/), installed with pip as a third
party would and run through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST, REPO

EXAMPLES = REPO / "examples"
PACKAGES = ["meter-machine-cpu", "task-csv", "report-run-index", "compressor-magnitude", "tuner-lora"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example packages installed (wheels built by pip) into a folder put on PYTHONPATH: their
    entry points are found from the dist-info pip writes, exactly as after a ``pip install``."""
    target, sources = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("src")
    # Built from copies: setuptools writes build/ and *.egg-info next to the sources.
    copies = [shutil.copytree(EXAMPLES / p, sources / p) for p in PACKAGES]
    # --no-build-isolation: build with this environment's setuptools (no network needed).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), *map(str, copies)], check=True, capture_output=True)
    return target


def greenprune(args: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "greenprune", *args], env=env, capture_output=True, text=True,
                          timeout=900)


def write_csv(path: Path, n: int, offset: int) -> Path:
    words = {"positive": ["good", "great", "lovely", "fine"], "negative": ["bad", "awful", "dull", "poor"]}
    lines = ["text,label"]
    for i in range(offset, offset + n):
        label = "positive" if i % 2 else "negative"
        lines.append(f"the film was {words[label][i % 4]} number {i},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_examples_are_listed_with_their_components(site: Path) -> None:
    proc = greenprune(["plugins", "--json"], site)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["machine-cpu"]["components"] == {"meter": ["machine-cpu"]}
    assert rows["csvtask"]["components"] == {"task": ["csv"], "evaluator": ["balanced-accuracy"]}
    assert rows["runindex"]["components"] == {"report_section": ["run-index"]}
    assert rows["toy-magnitude"]["components"] == {"compressor": ["toy-magnitude"]}
    assert rows["toy-lora"]["components"] == {"tuner": ["toy-lora"]}
    assert rows["csvtask"]["distribution"] == "greenprune-csvtask"


def test_report_section_takes_its_place_in_a_committed_report(site: Path, tmp_path: Path) -> None:
    shutil.copy(REPO / "reports" / "squad-cpu" / "results.jsonl", tmp_path / "results.jsonl")
    proc = greenprune(["report", str(tmp_path)], site)
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Overview", "## Run index", "## Comparison"]  # order=150
    assert "| Run | What | Status | Student f1 | Wall time |" in md
    assert (tmp_path / "figures" / "run-index-minilm-squad.png").is_file()
    # disabled by its plugin name, the section goes
    proc = greenprune(["--disable", "runindex", "report", str(tmp_path)], site)
    assert proc.returncode == 0, proc.stderr
    assert "## Run index" not in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_task_errors_are_one_line_before_any_work(site: Path, tmp_path: Path) -> None:
    proc = greenprune(["bench", "--task", "csv", "--out", str(tmp_path / "out")], site)
    assert proc.returncode == 2 and "csv.train" in proc.stderr and "Traceback" not in proc.stderr
    proc = greenprune(["bench", "--task", "csv", "--set", f"csv.train={tmp_path / 'nope.csv'}",
                       "--set", f"csv.dev={tmp_path / 'nope.csv'}", "--out", str(tmp_path / "out")], site)
    assert proc.returncode == 2 and "csv: no file at" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.slow
def test_bench_with_the_example_task_evaluator_meter_and_section(site: Path, tiny_teacher: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    train, dev = write_csv(tmp_path / "train.csv", 48, 0), write_csv(tmp_path / "dev.csv", 16, 100)
    proc = greenprune(["-q", "bench", "--task", "csv", "--set", f"csv.train={train}", "--set", f"csv.dev={dev}",
                       "--meter", "machine-cpu", "--meter", "cpu-estimate", "--teacher", str(tiny_teacher),
                       "--set", f"cache_dir={tmp_path / 'cache'}", "--out", str(out), *FAST], site)
    assert proc.returncode == 0, proc.stderr
    # one run per default target of the default chain: each is checked
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert results and all(r["status"] == "ok" for r in results), [r.get("error") for r in results]
    result = results[0]
    # the task's own evaluator scored it
    assert set(result["student"]["metrics"]["dev"]) == {"balanced_accuracy", "accuracy"}
    assert result["task"]["primary_metric"] == "balanced_accuracy"
    # the meter read every phase, labelled an estimate of the whole machine
    for phase in result["phases"]:
        mine = [e for e in phase["energy"] if e["meter"] == "machine-cpu"]
        assert len(mine) == 1 and mine[0]["method"] == "estimate" and mine[0]["covers"] == "machine-cpu"
        assert mine[0]["joules"] >= 0 and mine[0]["details"]["watts_per_core"] == 10.0
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| machine-cpu | estimate | machine-cpu |" in md  # named in the energy methods table
    assert "## Run index" in md and "Student balanced_accuracy" in md


@pytest.mark.slow
def test_one_shot_magnitude_compressor(site: Path, tiny_teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # the adapter tuner trains adapters only, so the zeros in the encoder stay
    proc = greenprune(["-q", "bench", "--compressor", "toy-magnitude", "--sparsity", "0.5", "--tuner", "adapter",
                       "--meter", "cpu-estimate", "--teacher", str(tiny_teacher),
                       "--set", f"cache_dir={tmp_path / 'cache'}", "--out", str(out), *FAST], site)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "results.jsonl").read_text())
    assert result["status"] == "ok", result.get("error")
    size = result["student"]["size"]
    assert abs(size["unstructured_sparsity"] - 0.5) <= 0.01, size
    assert size["measured_sparsity"] == 0  # structured: nothing removed
    compress = next(p for p in result["phases"] if p["name"] == "compress:toy-magnitude")
    assert compress["details"]["zeroed"] == pytest.approx(0.5 * compress["details"]["encoder_params"], abs=64)
    teacher_ms = result["teacher"]["inference"]["latency_ms_median"]
    student_ms = result["student"]["inference"]["latency_ms_median"]
    assert teacher_ms > 0 and student_ms > 0  # the speed-up is measured, whatever it is
    md = (out / "report.md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines()
               if line.startswith("| student | toy-magnitude | adapter | 50.0% |") and "×" in line)
    assert f"{teacher_ms / student_ms:.2f}×" in row and "| 0.0% | 50.0% |" in row
    # --sparsity is required with it, before any work
    proc = greenprune(["bench", "--compressor", "toy-magnitude", "--out", str(tmp_path / "x")], site)
    assert proc.returncode == 2 and "sparsity" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_lora_tuner_trains_while_cofi_prunes_and_survives_it(site: Path, tiny_teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = greenprune(["-q", "bench", "--compressor", "cofi", "--sparsity", "0.5", "--tuner", "toy-lora",
                       "--meter", "cpu-estimate", "--teacher", str(tiny_teacher),
                       "--set", f"cache_dir={tmp_path / 'cache'}", "--out", str(out), *FAST], site)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "results.jsonl").read_text())
    assert result["status"] == "ok", result.get("error")
    cofi = next(p for p in result["phases"] if p["name"] == "compress:cofi")["details"]
    # the physically pruned model with the pairs carried over computes what the masked one did
    assert cofi["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    assert result["student"]["size"]["measured_sparsity"] > 0.2  # CoFi removed structure
    tune = next(p for p in result["phases"] if p["name"] == "tune:toy-lora")["details"]
    assert tune["lora_pairs"] > 0 and tune["pairs_trained_before_tuning"] > 0  # they trained while CoFi pruned
    # saved, reloaded through the plugin's load hook, re-scored: the same metrics
    proc = greenprune(["verify", str(out)], site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical" in proc.stdout
