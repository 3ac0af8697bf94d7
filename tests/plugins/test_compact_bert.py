"""The compact encoder reproduces HF BERT exactly, takes CoFi masks, and round-trips through save/load."""

from __future__ import annotations

import functools

import pytest
import torch
from greenprune_builtins.cofi.gates import CofiMaskModule
from greenprune_builtins.cofi.masks import CofiMasks
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from greenprune.structure.compact import (
    compact_classes,
    from_hf,
    load_compact,
    save_compact,
)

BERT = compact_classes("bert")
CompactBertConfig = BERT.config
CompactBertForSequenceClassification = BERT.sequence

# (layers, hidden, heads, ffn, labels)
SHAPES = [(2, 32, 4, 64, 3), (3, 48, 6, 96, 1), (5, 32, 4, 64, 2)]
VOCAB = 60


@functools.cache
def hf_model(layers: int, hidden: int, heads: int, ffn: int, labels: int) -> BertForSequenceClassification:
    torch.manual_seed(layers * 100 + hidden)
    cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=32,
        num_labels=labels,
    )
    model = BertForSequenceClassification(cfg)  # cached: tests only read it (from_hf copies)
    with torch.no_grad():  # LayerNorms away from (1, 0) so a wrong LayerNorm would show
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


def batch(seq: int = 12, n: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(1, VOCAB, (n, seq), generator=g)
    mask = torch.ones(n, seq, dtype=torch.long)
    mask[1, seq // 2 :] = 0
    mask[2, 3:] = 0
    types = torch.zeros_like(ids)
    types[:, seq // 3 :] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@pytest.mark.parametrize("shape", SHAPES)
def test_dense_compact_equals_hf_bert(shape: tuple[int, ...]) -> None:
    hf = hf_model(*shape)
    ours = from_hf(hf).eval()
    assert ours.config.is_dense and ours.config.model_type == "greenprune-bert"
    labels = torch.tensor([0.3, -1.0, 2.0]) if shape[-1] == 1 else torch.tensor([0, 1, 1])
    with torch.no_grad():
        a = hf(**batch(), labels=labels, output_hidden_states=True)
        b = ours(**batch(), labels=labels, output_hidden_states=True)
    assert (a.logits - b.logits).abs().max() <= 1e-5
    assert torch.allclose(a.loss, b.loss, atol=1e-5)
    assert len(a.hidden_states) == len(b.hidden_states) == shape[0] + 1
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert (x - y).abs().max() <= 1e-5


def test_hf_state_dict_loads_into_dense_compact_bert() -> None:
    hf = hf_model(*SHAPES[0])
    ours = CompactBertForSequenceClassification(CompactBertConfig.from_hf_config(hf.config)).eval()
    missing, unexpected = ours.load_state_dict(hf.state_dict(), strict=False)
    assert not missing and not unexpected
    with torch.no_grad():
        assert torch.equal(ours(**batch()).logits, hf(**batch()).logits)


def test_empty_masks_and_no_attention_mask_match_plain_forward() -> None:
    model = from_hf(hf_model(*SHAPES[0])).eval()
    inputs = {"input_ids": batch()["input_ids"]}
    with torch.no_grad():
        plain = model(**inputs).logits
        assert torch.equal(model(**inputs, unit_scales=CofiMasks().scales()).logits, plain)
        ones = CofiMasks(head_z=torch.ones(2, 4), int_z=torch.ones(2, 64), hidden_z=torch.ones(32))
        assert (model(**inputs, unit_scales=ones.scales()).logits - plain).abs().max() <= 1e-6


def test_classification_loss_and_tuple_output() -> None:
    model = from_hf(hf_model(*SHAPES[0])).eval()
    out = model(**batch(), labels=torch.tensor([0, 2, 1]))
    assert out.loss is not None and out.loss.ndim == 0 and out.hidden_states is None
    tup = model(**batch(), return_dict=False)
    assert isinstance(tup, tuple) and torch.equal(tup[0], out.logits)


def test_soft_sampled_masks_train_and_reach_every_gate() -> None:
    model = from_hf(hf_model(*SHAPES[0])).train()
    gates = CofiMaskModule.from_config(model.config, init={"head": 1.0, "mha": 1.0, "ffn": 1.0, "hidden": 1.0})
    torch.manual_seed(0)
    masks = gates.sample()
    out = model(**batch(), labels=torch.tensor([0, 1, 2]), unit_scales=masks.scales(), output_hidden_states=True)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape == (3, 12, 32)
    # Dims whose sampled hidden gate is 0 are exactly 0 in every hidden state (CoFi semantics).
    dropped = masks.hidden_z == 0
    for h in out.hidden_states:
        assert torch.all(h[..., dropped] == 0)
    out.loss.backward()
    for kind, gate in gates.gates.items():
        assert gate.log_alpha.grad is not None, kind
    assert any(g.log_alpha.grad.abs().sum() > 0 for g in gates.gates.values())
    assert model.bert.encoder.layer[0].attention.self.query.weight.grad is not None


def test_mask_shape_errors() -> None:
    model = from_hf(hf_model(*SHAPES[0])).eval()
    with pytest.raises(ValueError, match="heads"):
        model(**batch(), unit_scales=CofiMasks(head_z=torch.ones(2, 5)).scales())
    with pytest.raises(ValueError, match="hidden"):
        model(**batch(), unit_scales=CofiMasks(hidden_z=torch.ones(31)).scales())


def test_config_defaults_and_validation() -> None:
    cfg = CompactBertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    assert cfg.layer_heads == [4, 4] and cfg.layer_ffn == [64, 64]
    assert cfg.head_size == 8 and cfg.kept_hidden == 32 and cfg.is_dense
    with pytest.raises(ValueError):
        CompactBertConfig(num_hidden_layers=2, layer_heads=[12])
    with pytest.raises(ValueError):
        CompactBertConfig(hidden_size=32, num_attention_heads=4, kept_hidden=33)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1]])
def test_save_load_round_trip(tmp_path: object, shape: tuple[int, ...]) -> None:
    model = from_hf(hf_model(*shape)).eval()
    path = save_compact(model, None, tmp_path / "m")  # type: ignore[operator]
    assert (path / "model.safetensors").exists() and (path / "config.json").exists()
    again = load_compact(path)
    auto = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    assert isinstance(auto, CompactBertForSequenceClassification)
    with torch.no_grad():
        ref = model(**batch()).logits
        # Same weights bit for bit; only kernel paths (memory alignment of loaded tensors) may differ.
        assert (again(**batch()).logits - ref).abs().max() <= 1e-6
        assert (auto(**batch()).logits - ref).abs().max() <= 1e-6
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value)
    assert again.config.num_labels == shape[-1]


def test_fused_qkv_cache_follows_weight_changes() -> None:
    # Without autograd the stacked Q/K/V weight is cached; an in-place update (optimizer step,
    # load_state_dict) or a new tensor must reach the next forward.
    model = from_hf(hf_model(*SHAPES[0])).eval()
    inputs = batch()
    with torch.no_grad():
        before = model(**inputs).logits
        model.bert.encoder.layer[0].attention.self.query.weight.mul_(1.5)
        changed = model(**inputs).logits
        model.bert.encoder.layer[1].attention.self.value.weight = torch.nn.Parameter(
            torch.randn_like(model.bert.encoder.layer[1].attention.self.value.weight))
        replaced = model(**inputs).logits
    assert not torch.allclose(before, changed)
    assert not torch.allclose(changed, replaced)
    reference = from_hf(hf_model(*SHAPES[0])).eval()
    reference.load_state_dict(model.state_dict())  # a model that never cached anything
    with torch.no_grad():
        assert torch.equal(reference(**inputs).logits, replaced)
    assert "_qkv_cache" not in "".join(model.state_dict())  # the cache is never saved


def test_hidden_states_only_when_asked() -> None:
    model = from_hf(hf_model(*SHAPES[0])).eval()
    with torch.no_grad():
        assert model(**batch()).hidden_states is None
        states = model(**batch(), output_hidden_states=True).hidden_states
    assert states is not None and len(states) == SHAPES[0][0] + 1
