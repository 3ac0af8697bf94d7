"""The lora tuner: what trains, merging, following CoFi's surgery, per-task save/load, the bench chain."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from greenprune_builtins.lora import LoraOptions, LoraTuner
from greenprune_builtins.lora_ops.io import load_lora, save_lora
from greenprune_builtins.lora_ops.modules import carry, lora_layers, merge
from transformers import BertConfig, BertForSequenceClassification

from greenprune.structure.surgery import SurgeryEvent
from tests.integration.test_cli import run

VOCAB = 100


def tiny() -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(cfg).eval()


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"input_ids": torch.randint(1, VOCAB, (4, 8), generator=g), "attention_mask": torch.ones(4, 8).long()}


def logits(model: torch.nn.Module) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**batch()).logits


def trained_lora(model: torch.nn.Module, tuner: LoraTuner) -> None:
    tuner.prepare(SimpleNamespace(model=model))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(5):
        model(**batch(), labels=torch.tensor([0, 1, 0, 1])).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def test_prepare_trains_only_lora_and_head_and_merge_is_exact() -> None:
    model, tuner = tiny(), LoraTuner(LoraOptions(rank=4))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trained_lora(model, tuner)
    assert len(lora_layers(model)) == 4  # Q and V of 2 layers
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    # the head: the classifier and the pooler in front of it (BERT's dense + tanh, RoBERTa keeps its own
    # in the classifier); everything else is LoRA
    assert {n for n in names if ".lora_" not in n} == {"classifier.weight", "classifier.bias",
                                                       "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert torch.equal(model.bert.encoder.layer[0].attention.self.query.base_layer.weight,
                       before["bert.encoder.layer.0.attention.self.query.weight"])  # backbone frozen
    unmerged = logits(model)
    assert merge(model) == 4 and not lora_layers(model)
    assert set(dict(model.named_parameters())) == set(before)  # the plain architecture again
    assert torch.allclose(logits(model), unmerged, atol=1e-5)


def test_lora_follows_a_sliced_projection() -> None:
    model, tuner = tiny(), LoraTuner(LoraOptions(rank=4))
    trained_lora(model, tuner)
    q = model.bert.encoder.layer[0].attention.self.query
    delta = (q.lora_B["default"].weight @ q.lora_A["default"].weight) * q.scaling["default"]
    after = copy.deepcopy(tiny())
    kept_in, kept_out = torch.tensor([0, 2, 5]), torch.tensor([1, 3])
    scale = torch.tensor([0.5, 2.0])
    name = "bert.encoder.layer.0.attention.self.query"
    event = SurgeryEvent(name, kept_in=kept_in, kept_out=kept_out, out_scale=scale)
    new = torch.nn.Linear(3, 2)
    parent, _, child = name.rpartition(".")
    setattr(after.get_submodule(parent), child, new)
    assert carry(model, after, tuner.options.spec(), {name: event}) == 4
    moved = after.get_submodule(name)
    got = (moved.lora_B["default"].weight @ moved.lora_A["default"].weight) * moved.scaling["default"]
    assert torch.allclose(got, delta[kept_out][:, kept_in] * scale[:, None], atol=1e-6)


def test_per_task_lora_weights_save_and_load_on_their_own(tmp_path: Path) -> None:
    model, tuner = tiny(), LoraTuner(LoraOptions(rank=4))
    trained_lora(model, tuner)
    expected = logits(model)
    save_lora(model, tmp_path / "sst2", "sst2", tuner.options.spec())
    files = sorted(p.name for p in (tmp_path / "sst2").iterdir())
    assert files == ["lora.safetensors", "lora_config.json"]
    fresh = tiny()  # the same frozen backbone, no LoRA yet
    assert load_lora(fresh, tmp_path / "sst2") == "sst2"
    assert torch.allclose(logits(fresh), expected)


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_cofi_with_lora_trains_lora_while_pruning_and_verifies(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "cofi", "--tuner", "lora", "--sparsity", "0.5",
                        "--set", "lora.rank=2", "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    cofi = next(p for p in r["phases"] if p["name"] == "compress:cofi")["details"]
    assert cofi["masked_vs_compact_max_abs_logit_diff"] <= 1e-4  # the LoRA pairs followed the surgery
    tune = next(p for p in r["phases"] if p["name"] == "tune:lora")["details"]
    assert tune["lora_layers"] == 4 and tune["merged"] == 4 and tune["trainable_share"] < 0.05
    assert r["student"]["size"]["measured_sparsity"] > 0.3
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert "identical" in stdout


@pytest.mark.slow
def test_unmerged_lora_student_reloads_through_the_plugin(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "none", "--tuner", "lora",
                        "--set", "lora.merge=false", "--set", "inference.enabled=false", "--meter", "cpu-estimate",
                        *fast_flags], capsys)
    assert code == 0, err
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert "identical" in stdout


def test_merge_onto_a_pruned_base_keeps_the_trained_function() -> None:
    from greenprune_builtins.unstructured.apply import apply_masks
    from greenprune_builtins.unstructured.select import per_matrix

    model, tuner = tiny(), LoraTuner(LoraOptions(rank=4))
    q = "bert.encoder.layer.0.attention.self.query"
    lin = model.get_submodule(q)
    apply_masks({q: lin}, {q: per_matrix(lin.weight.detach().abs(), 0.5)})
    trained_lora(model, tuner)
    unmerged = logits(model)
    merge(model)
    assert torch.allclose(logits(model), unmerged, atol=1e-5)  # the update was not lost on the mask


def tiny_roberta() -> torch.nn.Module:
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, num_labels=2, pad_token_id=1)
    return RobertaForSequenceClassification(cfg).eval()


@pytest.mark.parametrize(("family", "merged", "targets"), [
    ("bert", False, ["query", "value"]), ("bert", True, ["query", "value"]),
    ("roberta", False, ["query", "value", "dense"]), ("roberta", False, ["query", "value", "dense", "out_proj"]),
    ("roberta", True, ["query", "value", "dense", "out_proj"])])
def test_distilled_student_with_lora_converts_for_cofi_and_reloads(tmp_path: Path, family: str,
                                                                   merged: bool, targets: list[str]) -> None:
    """``distill+cofi`` with ``lora``: LoRA trains on the distilled (layer-dropped HF) student, then
    CoFi rebuilds it as the compact encoder. The conversion reads the wrapped projections through
    their ``.base_layer``, the tuner carries its pairs over (RoBERTa: the head's ``classifier.dense``
    pair to the compact ``roberta.pooler.dense``, named by the conversion's events; ``out_proj``'s to
    the compact ``classifier``, a name the targets do not match), and the compact student (LoRA merged
    or not) saves and reloads with the same logits."""
    from greenprune_builtins.cofi.pruning import dense_student
    from greenprune_builtins.distill_student import make_student
    from greenprune_builtins.lora import greenprune_load_student

    from greenprune.structure.compact import conversion_events, is_compact, save_compact

    tuner = LoraTuner(LoraOptions(rank=4, target_modules=targets))
    student = make_student(tiny() if family == "bert" else tiny_roberta(), [1])  # distill: the last layer
    trained_lora(student, tuner)
    assert any(".query.base_layer.weight" in k for k in student.state_dict())
    expected = logits(student)
    compact = dense_student(student, tuner)  # what cofi does first
    tuner.on_surgery(student, compact, conversion_events(student))
    assert is_compact(compact) and len(lora_layers(compact)) == len(lora_layers(student))
    assert torch.allclose(logits(compact), expected, atol=1e-5)  # distill's LoRA pairs came along
    if merged:
        merge(compact)
    save_compact(compact, None, tmp_path)
    loaded = greenprune_load_student(tmp_path)
    if merged:  # a plain compact student: the Auto classes load it, the plugin declines
        from transformers import AutoModelForSequenceClassification

        assert loaded is None
        loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert loaded is not None and len(lora_layers(loaded)) == (0 if merged else len(lora_layers(student)))
    assert torch.allclose(logits(loaded), expected, atol=1e-5)


@pytest.mark.slow
def test_distill_then_cofi_with_unmerged_lora_verifies(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "distill", "--compressor", "cofi",
                        "--tuner", "lora", "--sparsity", "0.5", "--set", "distill.layers=1", "--set", "lora.rank=2",
                        "--set", "lora.merge=false", "--set", "inference.enabled=false", "--meter", "cpu-estimate",
                        *fast_flags], capsys)
    assert code == 0, err
    (r,) = results(out)
    assert r["status"] == "ok", r.get("error")
    tune = next(p for p in r["phases"] if p["name"] == "tune:lora")["details"]
    assert tune["lora_layers"] == 2 and "merged" not in tune
    config = json.loads((Path(r["extra"]["student_path"]) / "config.json").read_text())
    assert config["model_type"] == "greenprune-bert" and config["greenprune_lora"]["rank"] == 2
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert " identical " in stdout, stdout
