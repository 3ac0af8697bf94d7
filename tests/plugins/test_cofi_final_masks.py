"""CoFi's final masks: CoFi's per-group rule, and the one-constant shift that lands them on the target."""

from __future__ import annotations

import pytest
import torch
from greenprune_builtins.cofi.expected import PrunableShape, count_prunable_params, dense_prunable_params
from greenprune_builtins.cofi.final_masks import counted_sparsity, final_masks
from greenprune_builtins.cofi.gates import CofiMaskModule
from greenprune_builtins.cofi.shrink import to_compact

from tests.conftest import make_tiny_bert


def trained_like_gates(layers: int, heads: int, ffn: int, hidden: int, seed: int) -> CofiMaskModule:
    """Gates with spread-out log_alphas, as after pruning (some closed, some open, some undecided)."""
    gates = CofiMaskModule(layers, heads, ffn, hidden)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for gate in gates.gates.values():
            gate.log_alpha.copy_(torch.randn(gate.log_alpha.shape, generator=g) * 3 + 1)
    return gates


@pytest.mark.parametrize(("layers", "heads", "ffn", "hidden"), [(6, 4, 128, 64), (3, 12, 384, 96), (12, 2, 64, 32)])
@pytest.mark.parametrize("target", [0.3, 0.6, 0.9, 0.95])
def test_shift_lands_counted_sparsity_on_target(layers: int, heads: int, ffn: int, hidden: int,
                                                target: float) -> None:
    shape = PrunableShape(layers, heads, hidden // heads, hidden, ffn)
    gates = trained_like_gates(layers, heads, ffn, hidden, seed=layers)
    landed = final_masks(gates, shape, target)
    assert landed.sparsity == pytest.approx(counted_sparsity(shape, landed.masks))
    assert landed.sparsity_cofi_rule == pytest.approx(counted_sparsity(shape, gates.deterministic()))
    # at least as close as CoFi's rule, and within 0.02: one hidden dim is at most 1/32 of the count here
    assert abs(landed.sparsity - target) <= abs(landed.sparsity_cofi_rule - target) + 1e-12
    assert abs(landed.sparsity - target) <= 0.02


def test_no_shift_when_cofi_rule_is_within_tolerance() -> None:
    shape = PrunableShape(6, 4, 16, 64, 128)
    gates = trained_like_gates(6, 4, 128, 64, seed=0)
    plain = counted_sparsity(shape, gates.deterministic())
    landed = final_masks(gates, shape, plain + 0.004, tolerance=0.005)
    assert landed.shift == 0.0 and landed.sparsity == plain
    off = final_masks(gates, shape, 0.9, calibrate=False)
    assert off.shift == 0.0 and off.sparsity == plain


def test_shift_keeps_the_ranking_of_units() -> None:
    shape = PrunableShape(2, 4, 8, 32, 64)
    gates = trained_like_gates(2, 4, 64, 32, seed=3)
    plain, landed = gates.deterministic(), final_masks(gates, shape, 0.9).masks
    la = gates.gates["int"].log_alpha.detach()
    for layer in range(2):  # within a group, a unit goes only if every lower-scored unit went too
        gone = landed.int_z[layer] == 0
        if gone.any():
            assert la[layer][gone].max() <= la[layer][~gone].min() if (~gone).any() else True
    # kept values are the trained gates' values: shifting only changes how many go
    both = (plain.int_z != 0) & (landed.int_z != 0)
    assert torch.equal(plain.int_z[both], landed.int_z[both])


def test_landed_masks_prune_to_the_counted_sparsity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForSequenceClassification

    from greenprune.structure.compact import from_hf

    path = make_tiny_bert(tmp_path / "m", layers=4, hidden=32, heads=4, ffn=64)
    model = from_hf(AutoModelForSequenceClassification.from_pretrained(path)).eval()
    shape = PrunableShape.from_config(model.config)
    landed = final_masks(trained_like_gates(4, 4, 64, 32, seed=5), shape, 0.7)
    compact = to_compact(model, landed.masks)
    counted = 1 - count_prunable_params(compact) / dense_prunable_params(shape)
    assert counted == pytest.approx(landed.sparsity, abs=1e-9)


@pytest.mark.parametrize("target", [0.6, 0.9])
def test_aligned_widths_are_multiples_and_still_land_on_target(target: float) -> None:
    shape = PrunableShape(6, 12, 32, 384, 1536)  # MiniLM's shape
    gates = trained_like_gates(6, 12, 1536, 384, seed=7)
    plain = final_masks(gates, shape, target)
    aligned = final_masks(gates, shape, target, align=8)
    widths = [int((z != 0).sum()) for z in aligned.masks.int_z]
    hidden = int((aligned.masks.hidden_z != 0).sum())
    assert all(w % 8 == 0 for w in widths) and hidden % 8 == 0, (widths, hidden)
    assert any(int((z != 0).sum()) % 8 for z in plain.masks.int_z)  # without align the widths are odd
    assert abs(aligned.sparsity - target) <= 0.02
    assert aligned.sparsity == pytest.approx(counted_sparsity(shape, aligned.masks))
    # the units an aligned group keeps are still the highest-ranked ones
    la = gates.gates["int"].log_alpha.detach()
    for layer, z in enumerate(aligned.masks.int_z):
        gone = z == 0
        if gone.any() and (~gone).any():
            assert la[layer][gone].max() <= la[layer][~gone].min()


def test_aligned_masks_prune_to_aligned_widths_and_equal_the_masked_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForSequenceClassification

    from greenprune.structure.compact import from_hf

    path = make_tiny_bert(tmp_path / "m", layers=3, hidden=64, heads=4, ffn=96)
    model = from_hf(AutoModelForSequenceClassification.from_pretrained(path)).eval()
    shape = PrunableShape.from_config(model.config)
    landed = final_masks(trained_like_gates(3, 4, 96, 64, seed=11), shape, 0.6, align=8)
    compact = to_compact(model, landed.masks).eval()
    assert compact.config.kept_hidden % 8 == 0
    ids = torch.randint(5, 100, (2, 12))
    with torch.no_grad():
        masked = model(input_ids=ids, unit_scales=landed.masks.scales()).logits
        pruned = compact(input_ids=ids).logits
    assert torch.allclose(masked, pruned, atol=1e-4)
