"""How many prunable encoder parameters a masked or compact encoder keeps: expected (CoFi) and counted.

"Prunable" follows CoFi (Xia et al., ACL 2022, §3.2): the weights and biases of the encoder's six
projections per layer (Q, K, V, attention output, FFN up, FFN down). Embeddings, LayerNorms, pooler and
classifier are left out, as in the paper; it is the core's encoder-parameter count
(:mod:`greenprune.structure.sizes`). Each count below is exactly what physical pruning (``shrink.py``)
removes, so for a 0/1 mask the expected count equals the compact model's real count:

* per kept head (d = head size, D = kept hidden dims): Q, K, V rows and biases 3 d (D + 1), and the
  output projection's d columns d D;
* per attention block still present: the output projection's bias, D;
* per kept FFN unit: the up row and bias D + 1 and the down column D;
* per FFN block still present: the down projection's bias, D.

A block is present when its block gate is kept and at least one unit is; with independent gates that has
probability P(block) * (1 - prod(1 - P(unit))), which is exact for 0/1 masks. The hidden gate is shared,
so every D above becomes the expected number of kept hidden dims (independence again; the expectation
is multilinear in the keep probabilities). Everything is differentiable in the keep probabilities, for
CoFi's Lagrangian sparsity constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from greenprune.api import count_encoder
from greenprune_builtins.cofi.masks import CofiMasks


@dataclass(frozen=True)
class PrunableShape:
    """Sizes that determine the prunable parameter count of a uniform encoder."""

    num_layers: int
    num_heads: int
    head_size: int
    hidden: int
    ffn: int

    @classmethod
    def from_config(cls, config: Any) -> PrunableShape:
        """The *dense* shape of a HF encoder config or a compact encoder config (its original sizes)."""
        heads = config.num_attention_heads
        head_size = getattr(config, "head_size", None) or config.hidden_size // heads
        return cls(config.num_hidden_layers, heads, head_size, config.hidden_size, config.intermediate_size)

    def per_head(self, hidden: float | torch.Tensor) -> float | torch.Tensor:
        return 3 * self.head_size * (hidden + 1) + self.head_size * hidden

    @staticmethod
    def per_unit(hidden: float | torch.Tensor) -> float | torch.Tensor:
        return 2 * hidden + 1


def _shape(config_or_shape: Any) -> PrunableShape:
    return config_or_shape if isinstance(config_or_shape, PrunableShape) else PrunableShape.from_config(config_or_shape)


def dense_prunable_params(config_or_shape: Any) -> int:
    """Prunable parameters of the dense model (e.g. 85,017,600 for BERT-base: 12 x (4D^2 + 4D + 2DF + F + D))."""
    s = _shape(config_or_shape)
    per_layer = s.num_heads * s.per_head(s.hidden) + s.hidden + s.ffn * s.per_unit(s.hidden) + s.hidden
    return int(s.num_layers * per_layer)


def expected_prunable_params(config_or_shape: Any, keep: CofiMasks) -> torch.Tensor:
    """Expected prunable parameters kept (float64), from keep probabilities laid out like :class:`CofiMasks`.

    ``keep`` fields that are ``None`` mean "always kept". Pass ``masks.binarized()`` to get the exact
    count that ``to_compact(model, masks)`` will keep.
    """
    s = _shape(config_or_shape)
    ref = next((t for t in vars(keep).values() if t is not None), None)
    # float64: BERT-base counts (~85M) are not exactly representable in float32 (24-bit mantissa).
    kw: dict[str, Any] = {"dtype": torch.float64}
    if ref is not None:
        kw["device"] = ref.device

    def get(t: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.ones(shape, **kw) if t is None else t.to(**kw)

    hidden = get(keep.hidden_z, (s.hidden,)).sum()
    head = get(keep.head_z, (s.num_layers, s.num_heads))
    mha = get(keep.mha_z, (s.num_layers,))
    units = get(keep.int_z, (s.num_layers, s.ffn))
    ffn = get(keep.ffn_z, (s.num_layers,))

    heads_alive = (mha.unsqueeze(1) * head).sum()
    attn_alive = (mha * (1 - torch.prod(1 - head, dim=1))).sum()
    units_alive = (ffn.unsqueeze(1) * units).sum()
    ffn_alive = (ffn * (1 - torch.prod(1 - units, dim=1))).sum()
    return (
        heads_alive * s.per_head(hidden) + attn_alive * hidden + units_alive * s.per_unit(hidden) + ffn_alive * hidden
    )


def expected_sparsity(config_or_shape: Any, keep: CofiMasks) -> torch.Tensor:
    """1 - expected kept / dense prunable parameters (differentiable)."""
    return 1 - expected_prunable_params(config_or_shape, keep) / dense_prunable_params(config_or_shape)


def count_prunable_params(model: nn.Module) -> int:
    """Parameters actually present in the prunable encoder projections of ``model`` (HF or compact)."""
    return count_encoder(model).present


def measured_sparsity(model: nn.Module) -> float:
    """1 - counted / dense prunable parameters, the dense reference taken from ``model.config``."""
    return 1.0 - count_prunable_params(model) / dense_prunable_params(model.config)
