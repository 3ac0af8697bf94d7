"""Mixed precision through accelerate: bf16 trains on CPUs too, is recorded, and leaves the model
running in full precision afterwards; fp16 without a GPU is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenprune.config import TrainConfig
from greenprune.errors import UserError
from greenprune.progress import Progress


def test_bf16_training_is_recorded_and_undone(tiny_teacher: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from greenprune.training import train

    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2)
    enc = tok(["a small test sentence", "another one here"] * 4, truncation=True, max_length=16)
    features = [{**{k: enc[k][i] for k in enc}, "labels": i % 2} for i in range(8)]
    before = [p.detach().clone() for p in model.parameters()]
    for precision in ("bf16", "no"):  # a second phase may ask for another precision in the same process
        cfg = TrainConfig(batch_size=4, max_steps=2, mixed_precision=precision)
        result = train(model, features, tok, cfg, seed=0, progress=Progress(quiet=True))
        assert result.summary()["mixed_precision"] == precision and result.steps == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    batch = tok(["check"], return_tensors="pt")
    assert model(**batch).logits.dtype == torch.float32  # no autocast left on the model


def test_fp16_without_a_gpu_is_refused() -> None:
    import torch

    from greenprune.distributed import check_launch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: fp16 is allowed")
    with pytest.raises(UserError, match="fp16 needs a GPU"):
        check_launch(TrainConfig(mixed_precision="fp16"))
    check_launch(TrainConfig(mixed_precision="bf16"))
