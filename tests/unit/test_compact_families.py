"""The compact encoder is not BERT-bound: a RoBERTa (its positions, its head) converts exactly,
saves as ``greenprune-roberta`` and loads back through transformers' Auto classes."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from greenprune.structure.compact import from_hf, save_compact  # noqa: E402

PAD = 1  # RoBERTa's padding id: positions start after it


def roberta(head: type) -> object:
    cfg = transformers.RobertaConfig(vocab_size=80, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=40, pad_token_id=PAD,
                                     num_labels=2 if head.__name__.endswith("Answering") else 3)
    torch.manual_seed(0)
    model = head(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.2)
    return model.eval()


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(3, 80, (3, 11), generator=torch.Generator().manual_seed(2))
    ids[1, 6:] = PAD
    return {"input_ids": ids, "attention_mask": (ids != PAD).long()}


@pytest.mark.parametrize("head", ["ForSequenceClassification", "ForQuestionAnswering"])
def test_roberta_converts_exactly_and_reloads(head: str, tmp_path: Path) -> None:
    hf = roberta(getattr(transformers, f"Roberta{head}"))
    ours = from_hf(hf).eval()
    assert type(ours).__name__ == f"CompactRoberta{head}" and ours.config.model_type == "greenprune-roberta"
    with torch.no_grad():
        a, b = hf(**batch()), ours(**batch())
    for name in ("logits",) if head == "ForSequenceClassification" else ("start_logits", "end_logits"):
        assert (getattr(a, name) - getattr(b, name)).abs().max() <= 1e-5
    save_compact(ours, None, tmp_path / "m")
    auto = getattr(transformers, f"AutoModel{head}").from_pretrained(tmp_path / "m").eval()
    assert type(auto) is type(ours)
    with torch.no_grad():
        assert torch.equal(auto(**batch())[0], b[0])
