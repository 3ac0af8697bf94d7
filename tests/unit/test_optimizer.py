"""Every training phase's AdamW: the fused kernel by default (the same algorithm as PyTorch's per-tensor
loop, in one pass), recorded with the phase, and no part of run or fine-tune cache keys, so results
and cached teachers from before the setting existed still resume."""

from __future__ import annotations

from pathlib import Path

from greenprune.config import TrainConfig, train_key
from greenprune.progress import Progress


def test_fused_and_loop_adamw_take_the_same_steps() -> None:
    import torch

    from greenprune.training import make_optimizer

    torch.manual_seed(0)
    shapes = [(64, 32), (32,), (8, 64)]
    start = [torch.randn(s) for s in shapes]
    grads = [[torch.randn(s) for s in shapes] for _ in range(3)]
    ends = []
    for fused in (True, False):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        groups = [{"params": params[:1], "weight_decay": 0.01}, {"params": params[1:], "weight_decay": 0.0}]
        opt = make_optimizer(groups, TrainConfig(learning_rate=1e-2, fused_optimizer=fused))
        assert bool(opt.defaults["fused"]) is fused
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            opt.step()
        ends.append([p.detach() for p in params])
    for a, b, s in zip(*ends, start, strict=True):
        assert not torch.equal(a, s)  # they moved...
        assert torch.allclose(a, b, rtol=0, atol=1e-6)  # ...the same way


def test_run_and_cache_keys_leave_the_optimizer_kernel_out() -> None:
    """Fused or looped, AdamW is one algorithm (rounding differs, as with the thread count): results
    and cached teachers from before the setting existed keep their keys."""
    on, off = TrainConfig().model_dump(), TrainConfig(fused_optimizer=False).model_dump()
    before_the_setting = {k: v for k, v in on.items() if k != "fused_optimizer"}
    assert train_key(on) == train_key(off) == train_key(before_the_setting)


def test_a_training_phase_records_its_optimizer(tiny_teacher: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from greenprune.training import train

    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2)
    enc = tok(["a small test sentence", "another one here"] * 2, truncation=True, max_length=16)
    features = [{**{k: enc[k][i] for k in enc}, "labels": i % 2} for i in range(4)]
    for fused, label in ((True, "AdamW (fused)"), (False, "AdamW (per-tensor loop)")):
        cfg = TrainConfig(batch_size=2, max_steps=2, fused_optimizer=fused)
        assert train(model, features, tok, cfg, seed=0, progress=Progress(quiet=True)).summary()["optimizer"] == label
