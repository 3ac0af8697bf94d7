"""Hard-concrete L0 gates (Louizos, Welling, Kingma, "Learning Sparse Neural Networks through L0
Regularization", ICLR 2018) and the module holding all CoFi gate families (Xia et al., ACL 2022).

A gate s ~ sigmoid((logit(u) + log_alpha) / beta), u ~ U(0, 1), is stretched to (gamma, zeta) =
(-0.1, 1.1) and clamped to [0, 1], so it is exactly 0 or 1 with positive probability while staying
differentiable in ``log_alpha`` elsewhere (Louizos et al., §4; beta = 2/3 as in their experiments and
in CoFi). The L0 term is P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta)) (their eq. 12).

Initialisation (documented choice): log_alpha ~ N(mean, 0.01). ``log_alpha_for_droprate(p)`` =
log(1 - p) - log(p) is Louizos et al.'s "droprate_init". :data:`DEFAULT_INIT` follows CoFi's
released defaults: the per-unit FFN gates start at droprate 0.5 (log_alpha 0, P(keep) ~ 0.83), every
other family at log_alpha 10 (P(keep) ~ 1), i.e. heads, whole blocks and hidden dims start open and
are closed only by the sparsity constraint.

Deterministic (test-time) mask, per group (a layer's heads, a layer's FFN units, a layer's block gate,
or all hidden dims): k = round(sum over the group of P(z == 0)) entries are expected to be zero, so
exactly the k entries with the smallest log_alpha are set to 0. Kept entries take Louizos et al.'s
test-time estimate min(1, max(0, sigmoid(log_alpha) * (zeta - gamma) + gamma)) (so wide-open gates are
exactly 1), except where that estimate clamps to 0 (log_alpha below about -2.4): a kept entry must
not vanish, or the compact model would remove more than the expected count k and overshoot the
sparsity target (a 0.6 target measured 0.67 in a simulation), so those take CoFi's released scaling
sigmoid(0.8 * log_alpha / beta) instead. Kept values below 1 are folded into the weights when pruning.
``round`` is Python's (halves to even), like CoFi's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from greenprune_builtins.cofi.masks import CofiMasks

GAMMA = -0.1  # left stretch limit (Louizos et al. 2018, §4)
ZETA = 1.1  # right stretch limit
BETA = 2.0 / 3.0  # temperature
EPS = 1e-6  # keeps the uniform noise away from 0 and 1
KEPT_SCALE = 0.8  # kept values whose Louizos estimate is 0: sigmoid(0.8 * log_alpha / beta), as CoFi's code

KINDS = ("head", "mha", "int", "ffn", "hidden")
UNIT_KINDS = ("head", "int", "hidden")  # one gate per head / FFN unit / hidden dim (not per block)
ALIGNED_KINDS = ("int", "hidden")  # widths a final mask may round to a multiple (see expected_zeros)


def log_alpha_for_droprate(droprate: float) -> float:
    """Louizos et al.'s initial log_alpha for a gate that should start closed with prob. ``droprate``."""
    if not 0.0 < droprate < 1.0:
        raise ValueError("droprate must be in (0, 1)")
    return math.log(1.0 - droprate) - math.log(droprate)


#: Initial log_alpha mean per gate family (CoFi's released defaults; see module docstring).
DEFAULT_INIT: dict[str, float] = {
    "head": 10.0,
    "mha": 10.0,
    "int": log_alpha_for_droprate(0.5),
    "ffn": 10.0,
    "hidden": 10.0,
}


def _aligned_zeros(zeros: int, size: int, align: int) -> int:
    """Zeros that leave a multiple of ``align`` kept (nearest, >= align); whole or empty groups stay."""
    if zeros in (0, size):
        return zeros
    kept = min(size, max(align, align * round((size - zeros) / align)))
    return size - kept


class HardConcreteGate(nn.Module):
    """``num_groups`` x ``group_size`` hard-concrete gates with learnable ``log_alpha``."""

    def __init__(
        self,
        num_groups: int,
        group_size: int,
        init_mean: float = 0.0,
        init_std: float = 0.01,
        temperature: float = BETA,
        limits: tuple[float, float] = (GAMMA, ZETA),
    ) -> None:
        super().__init__()
        if not limits[0] < 0.0 < 1.0 < limits[1]:
            raise ValueError("stretch limits must satisfy gamma < 0 and zeta > 1")
        self.temperature = temperature
        self.limit_l, self.limit_r = limits
        self.log_alpha = nn.Parameter(torch.empty(num_groups, group_size))
        self.reset_parameters(init_mean, init_std)

    def reset_parameters(self, mean: float = 0.0, std: float = 0.01) -> None:
        with torch.no_grad():
            self.log_alpha.normal_(mean, std)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.log_alpha.shape[0], self.log_alpha.shape[1])

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised sample (training): in [0, 1], exact 0s and 1s included."""
        u = torch.rand(self.shape, generator=generator, device=self.log_alpha.device)
        u = u.clamp(EPS, 1.0 - EPS).to(self.log_alpha.dtype)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.temperature)
        return (s * (self.limit_r - self.limit_l) + self.limit_l).clamp(0.0, 1.0)

    def keep_prob(self) -> torch.Tensor:
        """P(z != 0) = 1 - Q(s <= 0): the differentiable expected L0 norm of each gate."""
        # Not clamped: a clamp would zero the gradient exactly where the sparsity pressure matters.
        return torch.sigmoid(self.log_alpha - self._keep_bias())

    def _keep_bias(self) -> float:
        return self.temperature * math.log(-self.limit_l / self.limit_r)

    def expected_zeros(self, shift: float = 0.0, align: int = 1) -> list[int]:
        """Per group: round(sum of P(z == 0)), the number of entries the deterministic mask zeroes.

        ``shift`` is added to every log_alpha first (see :meth:`deterministic`). With ``align`` > 1 a
        partly pruned group keeps a multiple of ``align`` entries (the nearest one, at least ``align``,
        at most the whole group): matrix multiplications on odd widths run far below the hardware's
        peak, so a width of 816 can be faster than one of 813 (benchmarks/README.md)."""
        missing = (1.0 - self._keep_prob_shifted(shift)).sum(dim=1)
        zeros = [round(float(m)) for m in missing.tolist()]
        return zeros if align <= 1 else [_aligned_zeros(k, self.shape[1], align) for k in zeros]

    def _keep_prob_shifted(self, shift: float) -> torch.Tensor:
        return torch.sigmoid(self.log_alpha.detach() + shift - self._keep_bias())

    @torch.no_grad()
    def deterministic(self, shift: float = 0.0, align: int = 1) -> torch.Tensor:
        """Test-time mask (see module docstring): exactly the k lowest per group at 0, the rest in (0, 1].

        ``shift`` moves every log_alpha by one constant when *counting* the zeros k, so a caller can
        nudge the whole mask towards a sparsity target; which entries go (the lowest log_alpha) and the
        values of the kept ones are those of the trained, unshifted gates. ``align``: see
        :meth:`expected_zeros`."""
        la = self.log_alpha.detach()
        louizos = (torch.sigmoid(la) * (self.limit_r - self.limit_l) + self.limit_l).clamp(0.0, 1.0)
        soft = torch.where(louizos > 0, louizos, torch.sigmoid(la * (KEPT_SCALE / self.temperature)))
        for g, k in enumerate(self.expected_zeros(shift, align)):
            if k > 0:
                soft[g, torch.topk(la[g], k, largest=False).indices] = 0.0
        return soft

    def forward(self) -> torch.Tensor:
        return self.sample() if self.training else self.deterministic()

    @torch.no_grad()
    def clamp_log_alpha_(self, low: float = math.log(1e-2), high: float = math.log(1e2)) -> None:
        """Optional projection of log_alpha into a bounded range (CoFi's code offers the same)."""
        self.log_alpha.clamp_(low, high)


class CofiMaskModule(nn.Module):
    """One :class:`HardConcreteGate` per CoFi family, producing :class:`CofiMasks`.

    Families (``kinds``): ``head`` [L, H], ``mha`` [L], ``int`` [L, F], ``ffn`` [L], ``hidden`` [D].
    Leaving a family out means it is never pruned (its mask field stays ``None``).
    """

    def __init__(
        self,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        hidden: int,
        kinds: tuple[str, ...] = KINDS,
        init: Mapping[str, float] | None = None,
        init_std: float = 0.01,
        temperature: float = BETA,
    ) -> None:
        super().__init__()
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown gate kinds {sorted(unknown)}; choose from {KINDS}")
        means = {**DEFAULT_INIT, **(init or {})}
        self.num_layers, self.num_heads, self.ffn_dim, self.hidden = num_layers, num_heads, ffn_dim, hidden
        layout = {
            "head": (num_layers, num_heads),
            "mha": (num_layers, 1),
            "int": (num_layers, ffn_dim),
            "ffn": (num_layers, 1),
            "hidden": (1, hidden),
        }
        self.gates = nn.ModuleDict(
            {
                k: HardConcreteGate(*layout[k], init_mean=means[k], init_std=init_std, temperature=temperature)
                for k in KINDS
                if k in kinds
            }
        )

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> CofiMaskModule:
        """Gates shaped for a HF encoder config or a (uniform) compact encoder config."""
        heads = getattr(config, "layer_heads", None) or [config.num_attention_heads]
        ffn = getattr(config, "layer_ffn", None) or [config.intermediate_size]
        if len(set(heads)) != 1 or len(set(ffn)) != 1:
            raise ValueError("CoFi gates need every layer to have the same number of heads and FFN units")
        hidden = getattr(config, "kept_hidden", None) or config.hidden_size
        return cls(config.num_hidden_layers, heads[0], ffn[0], hidden, **kwargs)

    def _collect(self, fn: Callable[[str, HardConcreteGate], torch.Tensor]) -> CofiMasks:
        out: dict[str, torch.Tensor] = {}
        for kind, gate in self.gates.items():
            t = fn(kind, gate)
            # Block gates are stored as [L, 1] groups and hidden as one [1, D] group; squeeze back.
            out[f"{kind}_z"] = t.squeeze(-1) if kind in ("mha", "ffn") else t.squeeze(0) if kind == "hidden" else t
        return CofiMasks(**out)

    def sample(self) -> CofiMasks:
        """Training masks: one fresh hard-concrete sample per gate (call once per training step)."""
        return self._collect(lambda _, gate: gate.sample())

    def deterministic(self, shift: float = 0.0, align: int = 1) -> CofiMasks:
        """Evaluation / pruning masks (detached).

        ``shift`` (see :meth:`HardConcreteGate.deterministic`) applies to the per-unit families only
        (heads, FFN units, hidden dims): a whole-block gate flipping would move the count by a layer's
        attention or FFN at once, so the block decisions stay as the gates learned them. ``align``
        rounds the kept FFN units of each layer and the kept hidden dims to multiples of itself (heads
        are whole already: their width is a multiple of the head size)."""
        return self._collect(lambda kind, gate: gate.deterministic(
            shift=shift if kind in UNIT_KINDS else 0.0, align=align if kind in ALIGNED_KINDS else 1))

    def keep_probs(self) -> CofiMasks:
        """P(gate != 0) in the same layout as the masks (differentiable; feed to ``expected.py``)."""
        return self._collect(lambda _, gate: gate.keep_prob())

    def forward(self) -> CofiMasks:
        return self.sample() if self.training else self.deterministic()

    def clamp_log_alpha_(self, low: float = math.log(1e-2), high: float = math.log(1e2)) -> None:
        for gate in self.gates.values():
            gate.clamp_log_alpha_(low, high)
