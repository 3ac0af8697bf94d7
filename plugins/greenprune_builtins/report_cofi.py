"""How CoFi's final masks met their target, as report lines (used by the "layers" section)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenprune.api import RunResult


def cofi_landing(r: RunResult) -> list[str]:
    """How each CoFi phase's final masks met the target: the gates, CoFi's rule, the shift (if any)."""
    lines = []
    for phase in r.phases:
        d = phase.details
        if "target_sparsity" not in d or "measured_sparsity_cofi_rule" not in d:
            continue
        shift = d.get("final_mask_shift") or 0.0
        landed = (f"final masks shifted by {shift:+.3g} (log-alpha of per-unit gates) to land on the target"
                  if shift else "CoFi's per-group rule kept as is")
        if (d.get("align_widths") or 1) > 1:  # absent in results from before width alignment
            landed += f"; FFN and hidden widths rounded to multiples of {d['align_widths']}"
        lines.append(f"{phase.name}: target {d['target_sparsity']:.3f}, measured {d['measured_sparsity_of_input']:.3f}"
                     f" (of its input); gates' expected sparsity at the end {d['expected_sparsity_final']:.3f}, "
                     f"CoFi's rule alone {d['measured_sparsity_cofi_rule']:.3f}; {landed}.")
    return lines
