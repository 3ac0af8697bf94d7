"""The final (deterministic) CoFi masks, landed on the sparsity target.

CoFi's rule (Xia et al., ACL 2022) zeroes, per group, the expected number of closed gates, rounded.
Two things make the compact model's *counted* sparsity differ from the target even so:

* the Lagrangian controller has not settled: with a few hundred pruning steps the expected sparsity
  still swings around the target when training stops (measured on MiniLM, 600 steps: 0.8 ended at
  0.752, 0.9 at 0.928, 0.95 at 0.934);
* rounding each group on its own, and whole-block gates multiplying their units, move the count
  even when the expectation is exact (tiny 6-layer BERT, expected 0.800 exactly, counted 0.785).

So, when CoFi's rule misses the target by more than ``tolerance``, the log_alpha of every per-unit
gate (heads, FFN units, hidden dims) is shifted by one constant when counting the zeros, found by
bisection, to the reachable sparsity nearest the target. Whole-block gates keep their learned
decision (one flipping would move the count by a layer's attention or FFN at once). One global shift
keeps the learned *ranking*: the same lowest-scoring units go first, only how many go changes. The
shift and the sparsity CoFi's rule alone gave are recorded, so a report can show how far the gates
were from the target. ``--set cofi.calibrate_final=false`` keeps CoFi's rule as is.

Widths are aligned too (``cofi.align_widths``, default 8): each layer's kept FFN units and the kept
hidden dims are rounded to the nearest multiple, the units added or dropped being the next in the
gates' ranking. Matrix multiplications on odd sizes run far below peak on CPUs (measured here, one
thread: a 4096x363 by 363x813 product took 92 ms, 4096x368 by 368x816 took 46 ms), so an unaligned
student leaves much of the speed-up its FLOPs promise on the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Bisection stops when the shift bracket is this narrow (log_alpha units); counts change in steps.
_SHIFT_RESOLUTION = 1e-4
_MAX_SHIFT = 1e3


@dataclass(frozen=True)
class FinalMasks:
    masks: Any  # CofiMasks, deterministic
    shift: float  # added to every log_alpha when counting zeros; 0.0 = CoFi's rule
    sparsity: float  # counted sparsity of ``masks``
    sparsity_cofi_rule: float  # counted sparsity with shift 0


def counted_sparsity(shape: Any, masks: Any) -> float:
    """The sparsity ``to_compact`` will produce with these deterministic masks (exact for 0/1 masks)."""
    from greenprune_builtins.cofi.expected import expected_sparsity

    return float(expected_sparsity(shape, masks.binarized()))


def final_masks(gates: Any, shape: Any, target: float, *, calibrate: bool = True,
                tolerance: float = 0.005, align: int = 1) -> FinalMasks:
    """Deterministic masks from ``gates`` (a CofiMaskModule), shifted onto ``target`` if need be.

    ``align`` rounds each layer's kept FFN units and the kept hidden dims to multiples of itself
    (:meth:`CofiMaskModule.deterministic`); the shift then lands the aligned masks on the target."""
    plain = gates.deterministic(align=align)
    plain_sparsity = counted_sparsity(shape, plain)
    if not calibrate or abs(plain_sparsity - target) <= tolerance:
        return FinalMasks(plain, 0.0, plain_sparsity, plain_sparsity)

    def at(shift: float) -> tuple[Any, float]:
        m = gates.deterministic(shift=shift, align=align)
        return m, counted_sparsity(shape, m)

    # A larger shift opens every gate: the counted sparsity can only fall (or stay) as it grows.
    # Bracket the target: sparsity(lo) >= target >= sparsity(hi).
    lo, hi = (0.0, 1.0) if plain_sparsity > target else (-1.0, 0.0)
    while at(lo)[1] < target and lo > -_MAX_SHIFT:
        lo *= 2
    while at(hi)[1] > target and hi < _MAX_SHIFT:
        hi *= 2
    while hi - lo > _SHIFT_RESOLUTION:
        mid = (lo + hi) / 2
        if at(mid)[1] >= target:
            lo = mid
        else:
            hi = mid
    candidates = [(shift, *at(shift)) for shift in (lo, hi)]
    shift, masks, sparsity = min(candidates, key=lambda c: (abs(c[2] - target), abs(c[0])))
    return FinalMasks(masks, shift, sparsity, plain_sparsity)
