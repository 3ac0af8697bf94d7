"""Per-structure scales the compact encoder's forward can apply: how a structured pruner trains.

A structured pruner (CoFi's gates, a head-importance mask, ...) asks the compact encoder to multiply
the output of each structure by a scale; a scale of 0 means "this structure goes" and lets the
pruner train, evaluate and count the model it would get before shrinking it. Fields and their place
in the forward (``layers.py``):

``heads`` [L, H]
    each head's context vector, before the attention output projection;
``attention`` [L]
    the whole attention sublayer output (after its output projection, bias included);
``units`` [L, F]
    the FFN's intermediate activations (after the nonlinearity);
``ffn`` [L]
    the whole FFN sublayer output (after its down projection, bias included);
``hidden`` [D]
    one scale per hidden dimension, shared by every layer: the embedding output and every sublayer
    output; the LayerNorms normalise over the dimensions whose scale is non-zero only.

Any field may be ``None`` (all ones). A sublayer is *removed* when its block scale is 0 or all of its
unit scales are 0; a removed sublayer is the identity (no residual LayerNorm), as in the compact
model whose layer then has no such block at all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass
class UnitScales:
    """Optional per-structure scales; shapes are documented in the module docstring."""

    heads: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    units: torch.Tensor | None = None
    ffn: torch.Tensor | None = None
    hidden: torch.Tensor | None = None

    def is_empty(self) -> bool:
        """True when no scale is set (the forward is then the plain forward)."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> UnitScales:
        return replace(self, **{f.name: t.to(device=device, dtype=dtype)
                                for f in fields(self) if (t := getattr(self, f.name)) is not None})

    def validate(self, num_layers: int, num_heads: int, ffn_dim: int, hidden: int) -> None:
        """Raise ``ValueError`` if a set scale has the wrong shape for the given model shape."""
        expected = {"heads": (num_layers, num_heads), "attention": (num_layers,), "units": (num_layers, ffn_dim),
                    "ffn": (num_layers,), "hidden": (hidden,)}
        for name, shape in expected.items():
            t = getattr(self, name)
            if t is not None and tuple(t.shape) != shape:
                raise ValueError(f"UnitScales.{name} has shape {tuple(t.shape)}, expected {shape}")

    def attention_active(self, num_layers: int) -> list[bool]:
        """Per layer: is the attention sublayer still there (block scale and some head non-zero)?"""
        return _active(self.attention, self.heads, num_layers)

    def ffn_active(self, num_layers: int) -> list[bool]:
        """Per layer: is the FFN sublayer still there (block scale and some unit non-zero)?"""
        return _active(self.ffn, self.units, num_layers)


def _active(block: torch.Tensor | None, units: torch.Tensor | None, num_layers: int) -> list[bool]:
    # One host sync for all layers instead of one ``.item()`` per layer.
    alive = torch.ones(num_layers, dtype=torch.bool)
    if block is not None:
        alive &= (block.detach() != 0).cpu()
    if units is not None:
        alive &= (units.detach() != 0).any(dim=-1).cpu()
    return [bool(a) for a in alive.tolist()]


def kept_index(z: torch.Tensor | None, size: int) -> torch.Tensor:
    """Indices of the non-zero entries of a 1-D scale (all of ``range(size)`` when ``z`` is None)."""
    if z is None:
        return torch.arange(size)
    return torch.nonzero(z.detach() != 0, as_tuple=False).flatten().cpu()
