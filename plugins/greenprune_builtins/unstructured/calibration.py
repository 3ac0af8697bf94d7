"""Wanda's activation statistic: the L2 norm of each input feature of each projection, over every
(non-padding) token of the calibration examples.

Layers are calibrated in order, each on the outputs of the layers before it *as already pruned*
(Sun et al.'s procedure): pruning layer 0 changes what layer 1 sees, and layer 1's scores should
reflect that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


def input_norms(model: nn.Module, linears: dict[str, nn.Module], batches: Iterable[dict[str, Any]]) -> dict[
    str, torch.Tensor
]:
    """``||X_j||_2`` per input feature ``j`` of each module in ``linears`` (name -> module)."""
    sums = {n: torch.zeros(m.in_features, dtype=torch.float64) for n, m in linears.items()}
    token_mask: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0].detach().to(torch.float64)
            mask = token_mask.get("mask")
            if mask is not None and x.dim() == 3 and mask.shape == x.shape[:2]:
                x = x * mask.unsqueeze(-1).to(x.dtype)  # padding tokens add nothing
            sums[name] += x.reshape(-1, x.shape[-1]).pow(2).sum(0).cpu()

        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in linears.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                inputs = {k: v for k, v in batch.items() if k not in ("labels", "start_positions", "end_positions")}
                token_mask["mask"] = inputs.get("attention_mask")
                model(**inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {n: s.sqrt().to(torch.float32) for n, s in sums.items()}


def wanda_scores(weight: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``|W_ij| * ||X_j||_2``: a weight matters as much as its size times how large its input runs."""
    return weight.detach().abs().float() * norms.to(weight.device).unsqueeze(0)
