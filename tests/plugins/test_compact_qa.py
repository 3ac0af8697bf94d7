"""The compact BERT's QA head: equals HF BertForQuestionAnswering, prunes exactly, saves and loads."""

from __future__ import annotations

from pathlib import Path

import torch
from greenprune_builtins.cofi.shrink import to_compact
from transformers import AutoModelForQuestionAnswering, BertConfig, BertForQuestionAnswering

from greenprune.structure.compact import compact_classes, from_hf, load_compact, save_compact
from greenprune.structure.sizes import per_layer_sizes
from tests.plugins.test_prune import crafted_masks

CompactBertForQuestionAnswering = compact_classes("bert").qa

VOCAB = 60
LAYERS, HIDDEN, HEADS, FFN = 3, 32, 4, 64


def hf_qa() -> BertForQuestionAnswering:
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                     intermediate_size=FFN, max_position_embeddings=32)
    model = BertForQuestionAnswering(cfg)
    with torch.no_grad():  # every weight random (LayerNorms and head biases too) so a mis-fold shows
        for name, p in model.named_parameters():
            p.copy_((1.0 if "LayerNorm.weight" in name else 0.0) + 0.3 * torch.randn_like(p))
    return model.eval()


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, VOCAB, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def test_dense_compact_qa_equals_hf_with_the_same_loss() -> None:
    hf = hf_qa()
    ours = from_hf(hf).eval()
    assert isinstance(ours, CompactBertForQuestionAnswering) and ours.bert.pooler is None
    positions = {"start_positions": torch.tensor([2, 40, 5]), "end_positions": torch.tensor([3, 6, 5])}
    with torch.no_grad():
        a, b = hf(**batch(), **positions), ours(**batch(), **positions)
    assert torch.allclose(a.start_logits, b.start_logits, atol=1e-5)
    assert torch.allclose(a.end_logits, b.end_logits, atol=1e-5)
    assert torch.allclose(a.loss, b.loss, atol=1e-5)  # out-of-range position 40 is ignored the same way


def test_masked_qa_model_equals_the_compact_one() -> None:
    model = from_hf(hf_qa()).eval()
    masks = crafted_masks(LAYERS, HIDDEN, HEADS, FFN)
    compact = to_compact(model, masks)
    with torch.no_grad():
        masked = model(**batch(), unit_scales=masks.scales())
        small = compact(**batch())
    assert (masked.start_logits - small.start_logits).abs().max() <= 1e-4
    assert (masked.end_logits - small.end_logits).abs().max() <= 1e-4
    kept = compact.config.kept_hidden
    assert kept < HIDDEN and compact.qa_outputs.in_features == kept
    assert per_layer_sizes(compact)[0]["heads"] is None


def test_save_and_load_through_the_auto_class(tmp_path: Path) -> None:
    import greenprune.structure.compact  # noqa: F401  (registers the compact classes with the Auto classes)

    compact = to_compact(from_hf(hf_qa()).eval(), crafted_masks(LAYERS, HIDDEN, HEADS, FFN))
    save_compact(compact, None, tmp_path / "m")
    loaded = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "m").eval()
    assert isinstance(loaded, CompactBertForQuestionAnswering)
    assert isinstance(load_compact(tmp_path / "m"), CompactBertForQuestionAnswering)
    with torch.no_grad():
        assert torch.equal(loaded(**batch()).start_logits, compact(**batch()).start_logits)
