"""The quantize compressor: int8 modules, save/reload, post-training placement in any chain, verify."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import transformers
from greenprune_builtins.int8.io import mark
from greenprune_builtins.int8.modules import Int8Embedding, Int8Linear, quantize_embeddings, quantize_linears
from greenprune_builtins.quantize import greenprune_load_student

from greenprune.modeling import model_size
from tests.integration.test_cli import run

WORD = "bert.embeddings.word_embeddings"


def tiny(vocab: int = 1000) -> transformers.BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, num_labels=2)
    return transformers.BertForSequenceClassification(cfg).eval()


def inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"input_ids": torch.randint(1, 1000, (3, 12), generator=g), "attention_mask": torch.ones(3, 12).long()}


def quantized(model: torch.nn.Module) -> torch.nn.Module:
    q = copy.deepcopy(model)
    quantize_embeddings(q, [WORD])
    mark(q, quantize_linears(q), [WORD])
    return q


def test_int8_student_is_close_smaller_and_reloads_identically(tmp_path: Path) -> None:
    model = tiny()
    q = quantized(model)
    assert isinstance(q.get_submodule(WORD), Int8Embedding)
    assert sum(isinstance(m, Int8Linear) for m in q.modules()) == 14  # 12 projections, pooler, classifier
    with torch.no_grad():
        ref, out = model(**inputs()).logits, q(**inputs()).logits
    assert (out - ref).abs().max() < 0.05
    fp32, int8 = model_size(model), model_size(q)
    assert int8.bytes_on_disk < 0.45 * fp32.bytes_on_disk  # the word table is 64k of the 168k parameters here
    assert int8.bytes_by_dtype["I8"] > 0.8 * sum(int8.bytes_by_dtype.values()) - int8.bytes_by_dtype["F32"]
    assert int8.dtypes["int8"] == 1000 * 64 + 2 * (3 * 64 * 64 + 64 * 64 + 2 * 64 * 128) + 64 * 64 + 2 * 64
    assert int8.encoder_params == fp32.encoder_params and [s["q"] for s in int8.layers] == [64, 64]
    q.save_pretrained(tmp_path)
    again = greenprune_load_student(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(**inputs()).logits, out)
    model.save_pretrained(tmp_path / "plain")
    assert greenprune_load_student(tmp_path / "plain") is None  # not ours: the core loads it


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_quantize_runs_after_the_tuner_wherever_the_chain_names_it(capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path, fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    # quantize named first: it still runs after cofi and the tuner
    code, _, err = run(["bench", "--out", str(out), "--compressor", "quantize", "--compressor", "cofi",
                        "--sparsity", "0.5", "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    names = [p["name"] for p in r["phases"]]
    assert names[2:8] == ["compress:cofi", "evaluate:compressed", "tune:finetune", "evaluate:tuned",
                          "compress:quantize", "evaluate:student"]
    assert r["student_before_post_training"]["metrics"] and r["student"]["metrics"]
    details = next(p for p in r["phases"] if p["name"] == "compress:quantize")["details"]
    assert details["bytes_after"] < details["bytes_before"] and details["bytes_by_dtype_after"]["I8"] > 0
    size = r["student"]["size"]
    assert size["bytes_by_dtype"]["I8"] > 0 and size["dtypes"]["int8"] > 0
    assert size["bytes_on_disk"] == details["bytes_after"]
    assert r["student"]["inference"]  # the int8 student was benchmarked
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert "identical" in stdout


@pytest.mark.slow
def test_quantize_alone_quantizes_the_teacher_without_tuning_it_again(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path, fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "quantize", "--meter", "cpu-estimate",
                        "--set", "inference.enabled=false", *fast_flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    names = [p["name"] for p in r["phases"]]
    assert not any(n.startswith("tune:") for n in names) and "tune_skipped" in r["extra"]
    assert r["student_before_post_training"]["metrics"] == r["teacher"]["metrics"]
