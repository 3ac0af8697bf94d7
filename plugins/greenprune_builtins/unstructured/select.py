"""Which weights an unstructured pruner keeps, given a score per weight (higher = more important).

Counts are exact: ties are broken by position (``torch.topk`` on the scores), so a sparsity of 0.5
on a matrix of 10 weights zeroes exactly 5, and a global choice zeroes exactly the requested share
of all scored weights.
"""

from __future__ import annotations

import torch


def _keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask over a 1-D (or last-dim-wise, 2-D) score tensor keeping the ``keep`` largest."""
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if keep > 0:
        idx = torch.topk(scores, keep, dim=-1).indices
        mask.scatter_(-1, idx, True)
    return mask


def pruned_count(n: int, sparsity: float) -> int:
    return round(sparsity * n)


def per_matrix(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the highest scores of one matrix, zeroing ``round(sparsity * numel)`` weights."""
    flat = scores.flatten().float()
    return _keep_top(flat, flat.numel() - pruned_count(flat.numel(), sparsity)).view_as(scores)


def global_choice(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """One ranking across every matrix: the lowest ``sparsity`` share of all scores is zeroed, so
    matrices with many small weights lose more than others."""
    names = list(scores)
    flat = torch.cat([scores[n].flatten().float() for n in names])
    keep = _keep_top(flat, flat.numel() - pruned_count(flat.numel(), sparsity))
    out, start = {}, 0
    for n in names:
        size = scores[n].numel()
        out[n] = keep[start:start + size].view_as(scores[n])
        start += size
    return out


def per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Wanda's comparison group: each output row keeps its own highest scores (the same count per row)."""
    cols = scores.shape[1]
    return _keep_top(scores.float(), cols - pruned_count(cols, sparsity))


def n_of_m(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """N:M semi-structured sparsity: in every ``m`` consecutive inputs of a row keep the ``n`` highest."""
    rows, cols = scores.shape
    if cols % m:
        raise ValueError(f"{cols} inputs are not a multiple of M={m}")
    groups = scores.float().reshape(rows, cols // m, m)
    return _keep_top(groups, n).reshape(rows, cols)
