"""The benchmark scripts: FLOP counting against hand computations, and a smoke run of each script.

The scripts live in ``benchmarks/`` (not a package) and import their helpers as ``_common``, so the
folder goes on ``sys.path`` here exactly as it is when a script runs as ``python benchmarks/x.py``.
No timing is asserted: the smoke runs only show the code paths work end to end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import compact_vs_plain  # noqa: E402
import inference_speedup  # noqa: E402
import quantize_speedup  # noqa: E402
import train_step_cost  # noqa: E402

# Tiny shape used for the hand computations: 2 layers, hidden D = 32, 4 heads of 8 (A = 32),
# FFN F = 64, sequence s = 16, 2 labels, pooler width P = 32.
S, D, F, P, LABELS = 16, 32, 64, 32, 2


def tiny_hf_config(layers: int = 2) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=100, hidden_size=D, num_hidden_layers=layers, num_attention_heads=4,
                      intermediate_size=F, max_position_embeddings=32, num_labels=LABELS)


def test_forward_flops_dense_by_hand() -> None:
    fc = inference_speedup.forward_flops(tiny_hf_config(), S)
    # per layer: Q, K, V, O = 4 matmuls of s x D by D x A, 2 FLOPs per MAC: 4 * 2 * 16 * 32 * 32
    assert fc.projections == 2 * (4 * 2 * 16 * 32 * 32)  # 262,144
    # per layer: scores and context, each 2 * s * s * A (per head s x d by d x s, summed over heads)
    assert fc.attention == 2 * (2 * (2 * 16 * 16 * 32))  # 65,536
    # per layer: up (s x D by D x F) and down (s x F by F x D)
    assert fc.ffn == 2 * (2 * (2 * 16 * 32 * 64))  # 262,144
    # pooler on the first token (D x P) and classifier (P x labels)
    assert fc.head == 2 * 32 * 32 + 2 * 32 * 2  # 2,176
    assert fc.total == 262_144 + 65_536 + 262_144 + 2_176
    # FLOPs scale linearly with the batch
    assert inference_speedup.forward_flops(tiny_hf_config(), S, batch_size=3).total == 3 * fc.total


def test_forward_flops_pruned_config_and_model_by_hand() -> None:
    import torch
    from greenprune_builtins.cofi.masks import CofiMasks
    from greenprune_builtins.cofi.shrink import to_compact

    from greenprune.structure.compact import compact_classes

    bert = compact_classes("bert")
    CompactBertConfig, CompactBertForSequenceClassification = bert.config, bert.sequence

    # layer 0 keeps 2 of 4 heads and 16 of 64 FFN units; layer 1 loses its whole attention block
    cfg = CompactBertConfig(vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=F, max_position_embeddings=32, num_labels=LABELS,
                            layer_heads=[2, 0], layer_ffn=[16, 64])
    fc = inference_speedup.forward_flops(cfg, S)
    a0 = 2 * 8  # layer 0 attention width: 2 heads of 8
    assert fc.projections == 8 * S * D * a0  # layer 1: no attention, no projections
    assert fc.attention == 4 * S * S * a0  # the removed block contributes 0 attention FLOPs
    assert fc.ffn == 4 * S * D * 16 + 4 * S * D * 64
    assert fc.head == 2 * D * P + 2 * P * LABELS

    # the same structure reached by masking a dense model and pruning it: counted from the modules
    torch.manual_seed(0)
    dense = CompactBertForSequenceClassification(CompactBertConfig(
        vocab_size=100, hidden_size=D, num_hidden_layers=2, num_attention_heads=4, intermediate_size=F,
        max_position_embeddings=32, num_labels=LABELS)).eval()
    head_z = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    int_z = torch.ones(2, F)
    int_z[0, 16:] = 0.0
    compact = to_compact(dense, CofiMasks(head_z=head_z, int_z=int_z))
    assert inference_speedup.forward_flops(compact, S) == fc
    # and a dense model counts the same from its config and from its modules
    assert inference_speedup.forward_flops(dense, S) == inference_speedup.forward_flops(tiny_hf_config(), S)


def test_synthetic_student_hits_the_target() -> None:
    import torch
    from greenprune_builtins.cofi.expected import measured_sparsity
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    teacher = BertForSequenceClassification(tiny_hf_config(layers=3)).eval()
    for target in (0.5, 0.9):
        student, info = inference_speedup.synthetic_cofi_student(teacher, target)
        # within one FFN unit plus one block bias (2D + 1 + D parameters) of the target
        dense = 3 * (4 * (4 * 8 * D + 3 * 8) + D + F * (2 * D + 1) + D)
        assert abs(measured_sparsity(student) - target) <= (3 * D + 2) / dense
        assert info["sparsity"] == pytest.approx(measured_sparsity(student))


@pytest.mark.parametrize("script", [inference_speedup, train_step_cost, quantize_speedup])
def test_script_quick_run(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    # One round, no warm-up, one thread (a busy CI machine makes 2-thread tiny ops wait on each
    # other): only the code paths matter here, not the numbers.
    import torch

    threads = torch.get_num_threads()
    try:
        assert script.main(["--quick", "--repeats", "1", "--warmup", "0", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the scripts set it process-wide; leave later tests as they were
    out = capsys.readouterr().out
    assert "intra-op threads" in out
    if script is inference_speedup:
        assert "synthetic structure (not trained)" in out
        assert "distill 6->2" in out
        assert "meas/ideal" in out
    elif script is quantize_speedup:
        assert "int8" in out and "speed-up" in out and "bytes on disk" in out
    else:
        assert "CoFi / (FT + teacher fwd)" in out
        assert "adapter / FT" in out


def test_compact_vs_plain_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # MiniLM-sized 0.9 shape, batch 1, short sequence: the script builds both models, checks that
    # they compute the same logits (it exits otherwise) and prints the ratio line.
    import torch

    threads = torch.get_num_threads()
    try:
        assert compact_vs_plain.main(["--shape", "0.9", "--batch", "1", "--seq", "16", "--repeats", "2",
                                      "--warmup", "0", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "compact/plain speed" in out and "0.9 at batch 1" in out
