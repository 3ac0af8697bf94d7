"""Pruned weights stay zero through every later training phase.

A mask is registered as a ``torch.nn.utils.parametrize`` parametrization on the Linear's weight:
every forward sees ``original * mask``, so a masked weight gets no gradient and contributes nothing,
whatever optimizer, tuner or compressor trains the model next (this works inside any training loop,
the core's or a plugin's, without it knowing). The core folds parametrizations into plain weights
before it measures and saves the student (``leave_parametrized=True``), so the saved model is an
ordinary checkpoint whose pruned weights are exact zeros.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize


class KeepZeros(nn.Module):
    """The parametrization: ``weight = original * mask`` (mask of 0/1 in the weight's dtype)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def keep_zeros(linear: nn.Module, keep: torch.Tensor) -> None:
    """Zero ``linear.weight`` where ``keep`` is False and keep it zero from now on.

    A weight already masked gets the product of both masks (a second pruning only adds zeros).
    """
    keep = keep.to(device=linear.weight.device)
    masks = [p for p in _parametrizations(linear) if isinstance(p, KeepZeros)]
    if masks:
        masks[0].mask.mul_(keep.to(masks[0].mask.dtype))
        return
    with torch.no_grad():
        linear.weight.mul_(keep.to(linear.weight.dtype))
    parametrize.register_parametrization(linear, "weight", KeepZeros(keep.to(linear.weight.dtype)))


def _parametrizations(module: nn.Module) -> list[Any]:
    if not parametrize.is_parametrized(module, "weight"):
        return []
    return list(module.parametrizations["weight"])


def kept_mask(linear: nn.Module) -> torch.Tensor | None:
    """The keep mask on ``linear`` (None when its weight is not masked)."""
    masks = [p.mask for p in _parametrizations(linear) if isinstance(p, KeepZeros)]
    return masks[0].bool() if masks else None

