"""Compressor chains and tuners through the real CLI on a tiny random BERT and the demo task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.slow


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_cofi_two_sparsities_save_and_load(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           fast_flags: list[str]) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import greenprune.models  # noqa: F401  (registers the compact BERT with the Auto classes)

    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "cofi", "--sparsity", "0.3", "--sparsity", "0.6",
                        "--meter", "cpu-estimate", "--set", "cofi.mask_lr=0.5", "--set", "cofi.lambda_lr=0.5",
                        *fast_flags], capsys)
    assert code == 0, err
    runs = results(out)
    assert [r["config"]["sparsity"] for r in runs] == [0.3, 0.6]
    for r in runs:
        names = [p["name"] for p in r["phases"]]
        assert names[:5] == ["teacher-finetune", "evaluate:teacher", "compress:cofi", "evaluate:compressed",
                             "tune:finetune"]
        assert r["student_after_compress"]["metrics"] and r["student"]["metrics"]
        assert r["student"]["size"]["layers"] and r["student"]["size"]["measured_sparsity"] is not None
        assert r["traces"]["compress:cofi"][-1]["target"] == r["config"]["sparsity"]
        cofi = next(p for p in r["phases"] if p["name"] == "compress:cofi")
        assert cofi["details"]["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
        # what the user set and the defaults that took effect, per component
        in_effect = r["extra"]["options_in_effect"]
        assert set(in_effect) == {"demo", "cofi", "finetune"}
        assert in_effect["cofi"]["mask_lr"] == 0.5 and in_effect["cofi"]["calibrate_final"] is True
        # the saved student loads back with one call and predicts the same
        path = Path(r["extra"]["student_path"])
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        tok = AutoTokenizer.from_pretrained(path)
        assert model.config.model_type == "greenprune-bert"
        batch = tok(["the film was good", "the meal was not bad"], return_tensors="pt", padding=True)
        with torch.no_grad():
            again = AutoModelForSequenceClassification.from_pretrained(path).eval()(**batch).logits
            assert torch.allclose(model(**batch).logits, again)
    assert "compress:cofi" in (out / "report.md").read_text() or "cofi" in (out / "report.md").read_text()
    # greenprune verify reloads both students and re-scores the dev set exactly
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert stdout.count("identical") == 2, stdout


def test_distill_then_cofi_chain_with_adapters(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "distill", "--compressor", "cofi",
                        "--tuner", "adapter", "--sparsity", "0.5", "--meter", "cpu-estimate",
                        "--set", "adapter.bottleneck=4", "--set", "distill.layers=1", *fast_flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    names = [p["name"] for p in r["phases"]]
    assert "compress:distill" in names and "compress:cofi" in names and "tune:adapter" in names
    assert set(r["traces"]) >= {"compress:distill", "compress:cofi", "tune:adapter"}
    tune = next(p for p in r["phases"] if p["name"] == "tune:adapter")
    assert 0 < tune["details"]["trainable_params"] < tune["details"]["total_params"]
    assert len(r["student"]["size"]["layers"]) == 1  # the tiny teacher's 2 layers, distilled to 1
    distill = next(p for p in r["phases"] if p["name"] == "compress:distill")
    assert distill["details"]["kept_layers"] == [1]
    # the compact student with adapters reloads (through the adapter plugin's load hook) and
    # scores exactly what the run recorded; without its adapters it would not
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert " identical " in stdout and "distill+cofi / adapter @ sparsity 0.5" in stdout, stdout
