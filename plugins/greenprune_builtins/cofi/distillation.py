"""Distillation losses used while pruning (CoFi §3.3).

Prediction distillation: KL between temperature-softened teacher and student distributions
(Hinton et al., 2015), or MSE of the outputs for regression; for extractive QA, the mean of the KLs
of the span-start and span-end distributions over the tokens. Layer distillation: each chosen
teacher layer is matched by the student layer that currently imitates it best, through one learned
linear map (CoFi's dynamic layer mapping). Because CoFi may remove whole layers, the mapping is
recomputed every step, only over student layers that are still alive, and it is monotone (a later
teacher layer never maps to an earlier student layer), which keeps the layers in order.
"""

from __future__ import annotations

import math
from typing import Any


def default_teacher_layers(num_layers: int) -> list[int]:
    """About a third of the teacher's layers, evenly spaced, ending at the last one (hidden-state
    indices: 1..L; 0 is the embeddings). 12 layers -> [3, 6, 9, 12]; 6 -> [3, 6]."""
    n = max(2, math.ceil(num_layers / 3)) if num_layers >= 2 else 1
    return sorted({round((i + 1) * num_layers / n) for i in range(n)})


def output_logits(out: Any) -> tuple[Any, ...]:
    """The distributions a model output predicts: ``(logits,)``, or ``(start_logits, end_logits)``
    for a QA output; a bare tensor is its own logits."""
    if getattr(out, "start_logits", None) is not None:
        return out.start_logits, out.end_logits
    return (getattr(out, "logits", out),)


def prediction_loss(student: Any, teacher: Any, temperature: float) -> Any:
    """``student``/``teacher``: logits, or model outputs (classification, regression or QA)."""
    import torch.nn.functional as F

    pairs = list(zip(output_logits(student), output_logits(teacher), strict=True))
    t = temperature
    losses = []
    for s_logits, t_logits in pairs:
        if s_logits.shape[-1] == 1:  # regression: match the teacher's output directly
            losses.append(F.mse_loss(s_logits.float(), t_logits.float()))
        else:
            losses.append(F.kl_div(F.log_softmax(s_logits.float() / t, -1), F.softmax(t_logits.float() / t, -1),
                                   reduction="batchmean") * t * t)
    return sum(losses[1:], losses[0]) / len(losses)


def layer_loss(student_hidden: tuple[Any, ...], teacher_hidden: tuple[Any, ...], teacher_layers: list[int],
               alive: list[bool], proj: Any, attention_mask: Any) -> tuple[Any, list[int]]:
    """Sum over teacher layers of the MSE to the best-matching alive student layer (monotone)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(student_hidden[0].dtype)
    denom = mask.sum() * student_hidden[0].shape[-1]
    projected = {j: proj(student_hidden[j]) for j in range(1, len(student_hidden)) if alive[j - 1]}
    total = student_hidden[0].new_zeros(())
    mapping: list[int] = []
    lowest = 1
    for t in teacher_layers:
        target = teacher_hidden[t]
        candidates = {j: (((h - target) ** 2) * mask).sum() / denom for j, h in projected.items() if j >= lowest}
        if not candidates:
            break
        with torch.no_grad():
            best = min(candidates, key=lambda j: float(candidates[j]))
        total = total + candidates[best]
        mapping.append(best)
        lowest = best
    return total, mapping
