"""The CoFi mask container; the compact encoder's forward takes it as unit scales (:meth:`CofiMasks.scales`).

CoFi (Xia, Zhong, Chen, "Structured Pruning Learns Compact and Accurate Models", ACL 2022, §3) learns
five families of gates at once. Their semantics in the masked forward (the core's ``UnitScales``):

``head_z`` [L, H]
    multiplies each head's context vector before the attention output projection;
``mha_z`` [L]
    multiplies the whole attention sublayer output (after ``attention.output.dense``, bias included);
``int_z`` [L, F]
    multiplies the FFN's intermediate activations (after the nonlinearity);
``ffn_z`` [L]
    multiplies the whole FFN sublayer output (after ``output.dense``, bias included);
``hidden_z`` [D]
    one gate per hidden dimension, shared by every layer: multiplies the embedding output and every
    sublayer output, and the LayerNorms only normalise over the dimensions whose gate is non-zero.

Any field may be ``None`` (that family is not pruned, i.e. all ones). Values may be soft samples in
[0, 1] during training or deterministic masks whose kept entries lie in (0, 1]; a zero always means
"physically removed" by :func:`greenprune_builtins.cofi.shrink.to_compact`.

A sublayer is *removed* when its block gate is 0 or all of its unit gates are 0; a removed sublayer is
an identity (no residual LayerNorm), exactly as in CoFi's released code and as in the compact model,
whose layer then has no such block at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch

from greenprune.api import UnitScales

MASK_NAMES = ("head_z", "mha_z", "int_z", "ffn_z", "hidden_z")


@dataclass
class CofiMasks:
    """Optional CoFi gates; shapes are documented in the module docstring."""

    head_z: torch.Tensor | None = None
    mha_z: torch.Tensor | None = None
    int_z: torch.Tensor | None = None
    ffn_z: torch.Tensor | None = None
    hidden_z: torch.Tensor | None = None

    # --- whole-container helpers -------------------------------------------------------------------

    def is_empty(self) -> bool:
        """True when no gate family is set (the masked forward is then the plain forward)."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> CofiMasks:
        """Apply ``fn`` to every set gate."""
        return replace(self, **{n: fn(t) for n in MASK_NAMES if (t := getattr(self, n)) is not None})

    def detach(self) -> CofiMasks:
        return self.map(lambda t: t.detach())

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CofiMasks:
        return self.map(lambda t: t.to(device=device, dtype=dtype))

    def binarized(self) -> CofiMasks:
        """0/1 float copy: 1 where a gate is non-zero (kept), 0 where it is removed."""
        return self.map(lambda t: (t != 0).to(torch.float32))

    def validate(self, num_layers: int, num_heads: int, ffn_dim: int, hidden: int) -> None:
        """Raise ``ValueError`` if a set gate has the wrong shape for the given model shape."""
        expected = {
            "head_z": (num_layers, num_heads),
            "mha_z": (num_layers,),
            "int_z": (num_layers, ffn_dim),
            "ffn_z": (num_layers,),
            "hidden_z": (hidden,),
        }
        for name, shape in expected.items():
            t = getattr(self, name)
            if t is not None and tuple(t.shape) != shape:
                raise ValueError(f"CofiMasks.{name} has shape {tuple(t.shape)}, expected {shape}")

    # --- structural queries used by the masked forward and by physical pruning ---------------------

    def scales(self) -> UnitScales:
        """The gates as the compact encoder's unit scales (the masked forward: ``model(..., unit_scales=)``)."""
        return UnitScales(heads=self.head_z, attention=self.mha_z, units=self.int_z, ffn=self.ffn_z,
                          hidden=self.hidden_z)

    def attention_active(self, num_layers: int) -> list[bool]:
        """Per layer: is the attention sublayer still there (block gate and some head non-zero)?"""
        return self.scales().attention_active(num_layers)

    def ffn_active(self, num_layers: int) -> list[bool]:
        """Per layer: is the FFN sublayer still there (block gate and some unit non-zero)?"""
        return self.scales().ffn_active(num_layers)

    def hidden_index(self) -> torch.Tensor | None:
        """Indices of kept hidden dimensions, or ``None`` when hidden dims are not masked."""
        if self.hidden_z is None:
            return None
        return torch.nonzero(self.hidden_z != 0, as_tuple=False).flatten()

