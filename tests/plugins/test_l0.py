"""Hard-concrete gates (Louizos et al. 2018) and the CoFi mask module."""

from __future__ import annotations

import math

import pytest
import torch
from greenprune_builtins.cofi.gates import DEFAULT_INIT, CofiMaskModule, HardConcreteGate, log_alpha_for_droprate


def gate_with(log_alpha: torch.Tensor) -> HardConcreteGate:
    gate = HardConcreteGate(*log_alpha.shape)
    with torch.no_grad():
        gate.log_alpha.copy_(log_alpha)
    return gate


def test_samples_stay_in_unit_interval_with_exact_zeros_and_ones() -> None:
    torch.manual_seed(0)
    gate = gate_with(torch.linspace(-6, 6, 4000).view(4, 1000))
    z = gate.sample()
    assert z.shape == (4, 1000)
    assert z.min() >= 0 and z.max() <= 1
    assert (z == 0).any() and (z == 1).any() and ((z > 0) & (z < 1)).any()


def test_sample_frequency_of_nonzero_matches_keep_prob() -> None:
    g = torch.Generator().manual_seed(1)
    for la in (-2.0, 0.0, 1.5):
        gate = gate_with(torch.full((1, 40000), la))
        empirical = (gate.sample(generator=g) != 0).float().mean()
        assert abs(float(empirical) - float(gate.keep_prob().detach()[0, 0])) < 0.015


def test_keep_prob_formula_monotone_and_differentiable() -> None:
    gate = gate_with(torch.linspace(-8, 8, 101).view(1, -1))
    p = gate.keep_prob()
    assert torch.all(p[0, 1:] > p[0, :-1])
    # Louizos eq. 12 at log_alpha = 0: 1 - sigmoid(beta * log(-gamma / zeta)).
    expected0 = 1 - 1 / (1 + math.exp(-(2 / 3) * math.log(0.1 / 1.1)))
    assert abs(float(p.detach()[0, 50]) - expected0) < 1e-6
    p.sum().backward()
    assert gate.log_alpha.grad is not None and torch.all(gate.log_alpha.grad > 0)


def test_deterministic_mask_zeroes_expected_number_lowest_first() -> None:
    la = torch.tensor([[3.0, -1.0, 0.5, -0.5, 2.0, 4.0], [5.0, 5.0, 5.0, 5.0, 5.0, -5.0]])
    gate = gate_with(la)
    z = gate.deterministic()
    ks = gate.expected_zeros()
    expected = [round(float(v)) for v in (1 - gate.keep_prob().detach()).sum(1)]
    assert ks == expected
    for row in range(2):
        zeros = set(torch.nonzero(z[row] == 0).flatten().tolist())
        lowest = set(torch.argsort(la[row])[: ks[row]].tolist())
        # exactly the k lowest are zero: never more, so the compact model hits the expected count
        assert lowest == zeros
    assert z.min() >= 0 and z.max() <= 1
    assert z[1].tolist()[:5] == [1.0] * 5 and z[1, 5] == 0  # large log_alpha -> exactly 1
    assert not z.requires_grad


def test_deterministic_kept_values_can_be_fractional() -> None:
    z = gate_with(torch.tensor([[-1.0, 0.0, 0.0, 6.0]])).deterministic()  # k = round(0.69) = 1
    assert z[0, 0] == 0 and z[0, 3] == 1
    assert torch.allclose(z[0, 1:3], torch.tensor([0.5, 0.5]))  # sigmoid(0) * 1.2 - 0.1


def test_init_and_droprate() -> None:
    assert log_alpha_for_droprate(0.5) == 0.0
    assert abs(log_alpha_for_droprate(0.1) - math.log(9)) < 1e-12
    with pytest.raises(ValueError):
        log_alpha_for_droprate(1.0)
    torch.manual_seed(0)
    module = CofiMaskModule(2, 4, 16, 8)
    for kind, gate in module.gates.items():
        assert abs(float(gate.log_alpha.detach().mean()) - DEFAULT_INIT[kind]) < 0.02
        assert float(gate.log_alpha.detach().std()) < 0.05
    keep = module.keep_probs()
    assert torch.all(keep.head_z > 0.999) and torch.all(keep.hidden_z > 0.999)
    assert torch.allclose(keep.int_z, torch.full_like(keep.int_z, 0.832), atol=0.01)


def test_mask_module_layouts_and_modes() -> None:
    module = CofiMaskModule(3, 4, 16, 8, init={"int": 10.0})
    for masks in (module.sample(), module.deterministic(), module.keep_probs()):
        assert masks.head_z.shape == (3, 4) and masks.mha_z.shape == (3,)
        assert masks.int_z.shape == (3, 16) and masks.ffn_z.shape == (3,)
        assert masks.hidden_z.shape == (8,)
    module.eval()
    det = module()
    assert all(torch.equal(t, torch.ones_like(t)) for t in vars(det).values())  # all gates wide open
    module.train()
    assert module().head_z.requires_grad
    partial = CofiMaskModule(2, 4, 16, 8, kinds=("head", "hidden"))
    m = partial.sample()
    assert m.int_z is None and m.mha_z is None and m.ffn_z is None and m.head_z is not None
    with pytest.raises(ValueError):
        CofiMaskModule(2, 4, 16, 8, kinds=("heads",))


def test_clamp_log_alpha() -> None:
    module = CofiMaskModule(2, 4, 16, 8)
    module.clamp_log_alpha_()
    for gate in module.gates.values():
        assert gate.log_alpha.max() <= math.log(100) + 1e-6 and gate.log_alpha.min() >= math.log(0.01) - 1e-6


def test_expected_zeros_align_keeps_multiples() -> None:
    gate = HardConcreteGate(3, 40)
    with torch.no_grad():
        gate.log_alpha.copy_(torch.linspace(-6, 6, 40).repeat(3, 1))
        gate.log_alpha[1] = 20.0  # nothing goes: the group stays whole, aligned or not
        gate.log_alpha[2] = -20.0  # everything goes
    plain, aligned = gate.expected_zeros(), gate.expected_zeros(align=8)
    assert plain[1] == aligned[1] == 0 and plain[2] == aligned[2] == 40
    kept_plain, kept = 40 - plain[0], 40 - aligned[0]
    assert kept % 8 == 0 and abs(kept - kept_plain) <= 4
    z = gate.deterministic(align=8)
    assert int((z[0] != 0).sum()) == kept
