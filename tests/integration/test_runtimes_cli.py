"""ONNX Runtime beside eager through the real CLI: the runtime matrix in a bench, its report
section, per-phase peak memory, and ``greenprune export`` of a chained student with adapters and of
an int8 (cofi + quantize) student."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.slow


def test_bench_runtimes_report_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          fast_flags: list[str]) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "distill", "--compressor", "cofi",
                        "--tuner", "adapter", "--sparsity", "0.5", "--meter", "cpu-estimate",
                        "--set", "adapter.bottleneck=4", "--set", "distill.layers=1",
                        "--set", 'inference.runtimes=["eager","onnxruntime"]',
                        "--set", "inference.matrix_batch_sizes=[1,4]", *fast_flags], capsys)
    assert code == 0, err
    (r,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for who in ("teacher", "student"):
        cells = r[who]["runtimes"]
        assert sorted((c["runtime"], c["batch_size"]) for c in cells) == [
            ("eager", 1), ("eager", 4), ("onnxruntime", 1), ("onnxruntime", 4)]
        for c in cells:
            assert c["memory"]["weight_bytes"] > 0 and c["memory"]["peak_rss_delta_bytes"] is not None
            if c["runtime"] == "onnxruntime":
                assert c["parity_max_abs_diff"] <= c["parity_tolerance"] == 1e-4
                assert c["runtime_info"]["onnxruntime"] and c["energy_per_example_j"]
        assert r[who]["inference"]["memory"]["weight_bytes"] > 0
    assert all(p["peak_memory"]["peak_rss_bytes"] > 0 for p in r["phases"])
    report = (out / "report.md").read_text()
    assert "## Runtimes and memory" in report and "| student | onnxruntime |" in report
    # the chained student with adapters, exported and scored in ONNX Runtime as the run recorded
    code, stdout, err = run(["export", str(out), "--format", "onnx"], capsys)
    assert code == 0, err + stdout
    assert " as recorded " in stdout and (out / "models" / r["run_key"] / "model.onnx").is_file(), stdout
    code, _, err = run(["export", str(out), "--format", "tflite"], capsys)
    assert code == 2 and "--format 'tflite'" in err


def test_int8_student_in_onnxruntime_bench_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       fast_flags: list[str]) -> None:
    pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "cofi", "--compressor", "quantize",
                        "--sparsity", "0.5", "--meter", "cpu-estimate",
                        "--set", 'inference.runtimes=["eager","onnxruntime"]',
                        "--set", "inference.matrix_batch_sizes=[1,4]", *fast_flags], capsys)
    assert code == 0, err
    (r,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert r["status"] == "ok", r["error"]
    cells = {(c["runtime"], c["batch_size"]): c for c in r["student"]["runtimes"]}
    assert sorted(cells) == [("eager", 1), ("eager", 4), ("onnxruntime", 1), ("onnxruntime", 4)]
    for (runtime, _), c in cells.items():
        assert c["memory"]["weight_bytes"] > 0 and c["memory"]["peak_rss_delta_bytes"] is not None
        if runtime == "onnxruntime":
            assert c["parity_max_abs_diff"] <= c["parity_tolerance"] and "int8" in c["parity_rule"]
            assert c["runtime_info"]["quantizer"].startswith("onnxruntime.quantization.quantize_dynamic")
            assert c["memory"]["runtime_load_bytes"] is not None
    teacher_ort = [c for c in r["teacher"]["runtimes"] if c["runtime"] == "onnxruntime"]
    assert teacher_ort and all(c["parity_tolerance"] == 1e-4 for c in teacher_ort)
    report = (out / "report.md").read_text()
    assert "ONNX graph is int8, made by onnxruntime.quantization.quantize_dynamic" in report
    code, stdout, err = run(["export", str(out), "--format", "onnx"], capsys)
    assert code == 0, err + stdout
    assert " as recorded (within 0.01) " in stdout, stdout
    ops = [n.op_type for n in onnx.load(str(out / "models" / r["run_key"] / "model.onnx")).graph.node]
    assert ops.count("MatMulInteger") == r["phases"][[p["name"] for p in r["phases"]].index("compress:quantize")][
        "details"]["linears"]
