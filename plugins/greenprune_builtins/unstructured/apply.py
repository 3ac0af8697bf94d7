"""Apply keep-masks to a model's projections and describe the result for the phase record."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from greenprune_builtins.unstructured.keep_zeros import keep_zeros


def apply_masks(linears: dict[str, nn.Module], keep: dict[str, torch.Tensor]) -> None:
    """Zero and pin every weight ``keep`` marks False (``keep`` names a subset of ``linears``)."""
    for name, mask in keep.items():
        keep_zeros(linears[name], mask)


def describe(keep: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The counted sparsity, overall and per matrix (weights only: biases are not pruned)."""
    per_matrix = {name: float((~mask).sum()) / mask.numel() for name, mask in keep.items()}
    zeros = sum(int((~mask).sum()) for mask in keep.values())
    total = sum(mask.numel() for mask in keep.values())
    return {"weight_sparsity": zeros / total if total else 0.0, "pruned_weights": zeros, "scored_weights": total,
            "matrix_sparsity": {"min": min(per_matrix.values(), default=0.0),
                                "max": max(per_matrix.values(), default=0.0)},
            "per_matrix": per_matrix}
