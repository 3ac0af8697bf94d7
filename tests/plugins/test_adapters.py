"""Houlsby adapters: placement, near-identity init, what trains, per-task switching, save/load."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from greenprune_builtins.adapter import AdapterOptions, AdapterTuner
from greenprune_builtins.adapters.io import load_adapters, load_with_adapters, save_adapters
from greenprune_builtins.adapters.modules import (
    BottleneckAdapter,
    adapter_params,
    insert_adapters,
    iter_adapters,
    remove_adapters,
    task_parameter_names,
    transfer_adapters,
)
from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification

VOCAB = 100


def tiny(layers: int = 2, hidden: int = 32, ffn: int = 64, cls: Any = BertForSequenceClassification,
         vocab: int = VOCAB, heads: int = 4) -> Any:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ffn, max_position_embeddings=32, num_labels=2)
    return cls(cfg).eval()


def batch(n: int = 6, seq: int = 10, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[0, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def logits(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def snapshot(model: Any, names: set[str] | None = None) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if names is None or n in names}


def train_steps(model: Any, labels: torch.Tensor, steps: int = 8, seed: int = 0) -> None:
    """A few Adam steps on a fixed batch, with the adapter tuner's choice of trainable weights."""
    AdapterTuner(AdapterOptions()).prepare(SimpleNamespace(model=model))
    torch.manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


@pytest.mark.parametrize("nonlinearity", ["relu", "gelu", "tanh", "swish"])
def test_insertion_is_exactly_the_identity(nonlinearity: str) -> None:
    model = tiny(layers=3)
    before = logits(model, batch())
    assert insert_adapters(model, nonlinearity=nonlinearity) == 6
    assert torch.equal(logits(model, batch()), before)  # up-projection starts at exactly zero


def test_two_adapters_per_layer_idempotent_and_state_dict_keys_kept() -> None:
    model = tiny(layers=3)
    keys = set(model.state_dict())
    insert_adapters(model)
    assert insert_adapters(model) == 0
    names = [n for n, _ in iter_adapters(model)]
    assert names == [f"bert.encoder.layer.{i}.{s}" for i in range(3) for s in ("attention.output", "output")]
    assert {a.bottleneck for _, a in iter_adapters(model)} == {2}  # 32 / 16
    for layer in model.bert.encoder.layer:  # one hook per block, on the dropout before residual + LN
        assert len(layer.attention.output.dropout._forward_hooks) == 1
        assert len(layer.output.dropout._forward_hooks) == 1
    assert keys <= set(model.state_dict())  # backbone keys unchanged, adapters only added
    assert all(".adapter." in k for k in set(model.state_dict()) - keys)
    assert remove_adapters(model) == 6 and set(model.state_dict()) == keys
    assert not hasattr(model.config, "greenprune_adapters")


def test_only_adapters_layernorms_and_head_train_and_ratio_at_width_384() -> None:
    model = tiny(layers=2, hidden=384, ffn=1536, heads=12, vocab=30522)
    AdapterTuner(AdapterOptions()).prepare(SimpleNamespace(model=model))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(".adapter." in n or "LayerNorm" in n or n.startswith("classifier.") for n in trainable)
    assert not any(".pooler." in n for n in trainable)
    assert {a.bottleneck for _, a in iter_adapters(model)} == {24}
    assert adapter_params(model) == 4 * (384 * 24 + 24 + 24 * 384 + 384)
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for n, p in model.named_parameters() if n in trainable) / total <= 0.05


def test_tuner_trains_only_trainable_params(tiny_teacher: Path) -> None:
    from transformers import AutoTokenizer

    from greenprune.config import TrainConfig
    from greenprune.modeling import ModelBundle
    from greenprune.progress import Progress
    from greenprune.tasks import Task, TaskData

    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    model = BertForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2)
    bundle = ModelBundle(model, tok, "tiny", "pretrained:tiny")
    frozen = snapshot(model)
    task = Task("t", "T", "classification", 2, ("accuracy",), "accuracy")
    rows = [{"text_a": f"word {i} and {'good' if i % 2 else 'bad'}", "text_b": None, "label": i % 2} for i in range(16)]
    ctx = SimpleNamespace(config=SimpleNamespace(train=TrainConfig(epochs=2, batch_size=8, max_length=16,
                                                                   logging_steps=1), seed=0),
                          progress=Progress(quiet=True))
    phase = AdapterTuner(AdapterOptions(epochs=1)).tune(ctx, bundle, task, TaskData(rows, {}, "test"))
    out, details = phase.value, phase.details
    assert out is bundle and details["train"]["steps"] == 2 and details["adapters"] == 4
    assert phase.trace and details["adapter_params"] == adapter_params(model)
    assert details["total_params"] == sum(p.numel() for p in model.parameters())
    trainable = set(task_parameter_names(model))
    assert details["trainable_params"] == sum(p.numel() for n, p in model.named_parameters() if n in trainable)
    after = snapshot(model)
    for name, value in frozen.items():
        assert torch.equal(after[name], value) == (name not in trainable), name
    assert all(a.up.weight.abs().sum() > 0 for _, a in iter_adapters(model))


def test_task_adapters_switch_on_one_frozen_backbone(tmp_path: Path) -> None:
    model = tiny()
    insert_adapters(model)
    backbone = {n for n, _ in model.named_parameters()} - set(task_parameter_names(model))
    frozen = snapshot(model, backbone)
    fresh = logits(model, batch())
    save_adapters(model, tmp_path / "init", "init")  # fresh adapters + pretrained LayerNorms + head

    train_steps(model, torch.tensor([0, 1, 0, 1, 0, 1]))
    task_a = logits(model, batch())
    save_adapters(model, tmp_path / "a", "task-a")

    assert load_adapters(model, tmp_path / "init") == "init"  # start task B from scratch
    assert torch.equal(logits(model, batch()), fresh)
    train_steps(model, torch.tensor([1, 1, 1, 0, 0, 0]), seed=1)
    assert not torch.allclose(logits(model, batch()), task_a)

    assert load_adapters(model, tmp_path / "a") == "task-a"
    assert torch.equal(logits(model, batch()), task_a)
    assert all(torch.equal(p, frozen[n]) for n, p in snapshot(model, backbone).items())


@pytest.mark.parametrize("cls", [BertForSequenceClassification, BertForQuestionAnswering])
def test_save_pretrained_and_load_with_adapters_round_trip(tmp_path: Path, cls: Any) -> None:
    model = tiny(cls=cls)
    insert_adapters(model, bottleneck=3, nonlinearity="tanh")
    with torch.no_grad():
        for _, a in iter_adapters(model):
            a.up.weight.normal_(std=0.5)
    model.save_pretrained(tmp_path)
    loaded = load_with_adapters(tmp_path)
    assert type(loaded) is cls
    assert {a.spec()["bottleneck"] for _, a in iter_adapters(loaded)} == {3}
    out = "logits" if cls is BertForSequenceClassification else "start_logits"
    with torch.no_grad():
        assert torch.equal(getattr(loaded(**batch()), out), getattr(model(**batch()), out))
        plain = cls.from_pretrained(tmp_path).eval()  # plain from_pretrained drops the adapters
        assert not list(iter_adapters(plain))
        assert not torch.allclose(getattr(plain(**batch()), out), getattr(model(**batch()), out))


def test_clone_gets_its_own_adapters() -> None:
    model = tiny()
    insert_adapters(model)
    before = logits(model, batch())
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for _, a in iter_adapters(clone):
            a.up.bias.normal_(std=0.3)  # not a constant: LayerNorm would cancel it
    assert torch.equal(logits(model, batch()), before)
    assert not torch.allclose(logits(clone, batch()), before)


def test_layers_of_different_ffn_widths() -> None:
    model = tiny(layers=2, ffn=64)
    with torch.no_grad():  # layer 0 keeps 16 of 64 FFN units, the way structured pruning leaves it
        layer = model.bert.encoder.layer[0]
        up, down = layer.intermediate.dense, layer.output.dense
        layer.intermediate.dense = torch.nn.Linear(32, 16)
        layer.intermediate.dense.weight.copy_(up.weight[:16])
        layer.intermediate.dense.bias.copy_(up.bias[:16])
        layer.output.dense = torch.nn.Linear(16, 32)
        layer.output.dense.weight.copy_(down.weight[:, :16])
        layer.output.dense.bias.copy_(down.bias)
    before = logits(model, batch())
    assert insert_adapters(model) == 4
    assert torch.equal(logits(model, batch()), before)
    train_steps(model, torch.tensor([0, 1, 0, 1, 0, 1]), steps=2)
    assert all(a.up.weight.abs().sum() > 0 for _, a in iter_adapters(model))


def test_compact_bert_removed_blocks_and_hidden_pruning() -> None:
    from greenprune_builtins.cofi.masks import CofiMasks
    from greenprune_builtins.cofi.shrink import to_compact

    from greenprune.structure.compact import compact_classes, from_hf

    model = from_hf(tiny()).eval()
    insert_adapters(model, bottleneck=4)
    with torch.no_grad():
        for _, a in iter_adapters(model):
            a.up.weight.normal_(std=0.3)
            a.up.bias.normal_(std=0.3)
    hidden_z = torch.ones(32)
    hidden_z[::3] = 0
    masks = CofiMasks(hidden_z=hidden_z, ffn_z=torch.tensor([0.0, 1.0]), mha_z=torch.tensor([1.0, 0.0]))
    with torch.no_grad():
        masked = model(**batch(), unit_scales=masks.scales()).logits
    events: list = []
    compact = to_compact(model, masks, events).eval()
    assert isinstance(compact.config, compact_classes("bert").config)
    # Pruning rebuilds the model without adapters; they follow the surgery events of their blocks.
    assert transfer_adapters(model, compact, events) == 2
    assert [n for n, _ in iter_adapters(compact)] == ["bert.encoder.layer.0.attention.output",
                                                       "bert.encoder.layer.1.output"]
    assert all(isinstance(a, BottleneckAdapter) and a.hidden == 21 for _, a in iter_adapters(compact))
    torch.testing.assert_close(logits(compact, batch()), masked, atol=1e-5, rtol=1e-4)
