"""The student of the ``distill`` compressor: which teacher layers it keeps, how it is built,
which teacher layer each of its layers imitates, and the distillation loss.

Pure functions, no training loop: :mod:`greenprune_builtins.distill` is the compressor that ties
them to :func:`greenprune.training.train`.

The student is a *layer-dropped copy* of the model being compressed (as in DistilBERT and the
"PKD-skip" student of Sun et al. 2019, "Patient Knowledge Distillation for BERT Model
Compression"): every kept layer starts from the weights of the teacher layer it replaces, which
converges far faster than a randomly initialised student.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

from greenprune.api import UserError

Selection = Literal["uniform", "first", "list"]

#: config fields that hold one entry per encoder layer (greenprune's compact encoder); sliced with the layers
PER_LAYER_CONFIG_FIELDS = ("layer_heads", "layer_ffn")


def default_layers(num_layers: int) -> int:
    """A third of the teacher's layers (12 -> 4, 6 -> 2), at least 2, at most all of them."""
    return min(num_layers, max(2, num_layers // 3))


def select_layers(num_layers: int, k: int | None, selection: Selection = "uniform",
                  keep: Sequence[int] | None = None) -> list[int]:
    """The 0-based teacher layers the student keeps, in increasing order.

    * ``uniform``: split the ``num_layers`` layers into ``k`` consecutive, near-equal blocks and
      keep the *last* layer of each, i.e. student layer ``i`` takes teacher layer
      ``floor((i + 1) * L / k) - 1``. 12 -> 4 keeps 2, 5, 8, 11; 6 -> 2 keeps 2, 5; 6 -> 3 keeps
      1, 3, 5. The last layer is always kept: its output feeds the classifier, so keeping it keeps
      the pooler/classifier's input distribution (PKD-skip does the same).
    * ``first``: layers ``0 .. k-1`` (the bottom of the network; cheap baseline).
    * ``list``: exactly ``keep`` (sorted); ``k``, if given, must equal ``len(keep)``.

    :raises UserError: for ``k`` outside ``[1, num_layers]`` or a bad ``keep`` list.
    """
    if num_layers < 1:
        raise UserError(f"the model has {num_layers} encoder layers; nothing to keep")
    if selection == "list":
        if not keep:
            raise UserError("distill: selection='list' needs keep=[...] (the teacher layers to keep, 0-based)")
        dups = sorted({i for i in keep if list(keep).count(i) > 1})
        if dups:
            raise UserError(f"distill: keep={list(keep)} repeats layer(s) {dups}; each layer can be kept once")
        bad = [i for i in keep if not 0 <= i < num_layers]
        if bad:
            raise UserError(f"distill: keep={list(keep)} names layer(s) {bad} outside 0..{num_layers - 1} "
                            f"(the model has {num_layers} layers)")
        if k is not None and k != len(keep):
            raise UserError(f"distill: layers={k} but keep={list(keep)} names {len(keep)} layers")
        return sorted(keep)
    if k is None:
        k = default_layers(num_layers)
    if not 1 <= k <= num_layers:
        raise UserError(f"distill: layers={k} is outside 1..{num_layers} (the model has {num_layers} layers)")
    if selection == "first":
        return list(range(k))
    if selection == "uniform":
        # Integer arithmetic, so the choice is exact and the same on every platform.
        return [(i + 1) * num_layers // k - 1 for i in range(k)]
    raise UserError(f"distill: unknown selection {selection!r}; use uniform, first or list")


def layer_map(keep: Sequence[int]) -> dict[int, int]:
    """Student encoder layer -> teacher encoder layer it imitates: student layer ``i`` is a copy of
    teacher layer ``keep[i]``, so it learns that layer's output (PKD; Jiao et al. 2020, TinyBERT,
    map layers the same way). The embeddings always map to the embeddings; they are not in the dict.

    In ``output_hidden_states`` terms (index 0 is the embedding output, ``j + 1`` the output of
    layer ``j``), student state ``i + 1`` is compared with teacher state ``keep[i] + 1``."""
    return {i: int(t) for i, t in enumerate(keep)}


def hidden_state_pairs(student_to_teacher: dict[int, int]) -> list[tuple[int, int]]:
    """``(student, teacher)`` indices into ``hidden_states``, embeddings first."""
    return [(0, 0)] + [(s + 1, t + 1) for s, t in sorted(student_to_teacher.items())]


def encoder_layers(model: Any) -> Any:
    """The ``ModuleList`` of encoder layers, or a clear error for a model without one."""
    import torch

    from greenprune.api import FAMILIES, family_of

    family = family_of(model)
    base = getattr(model, "base_model", model)
    layers = base.get_submodule(family.layers) if family is not None else None
    if not isinstance(layers, torch.nn.ModuleList) or not hasattr(getattr(model, "config", None),
                                                                  "num_hidden_layers"):
        raise UserError(f"distill needs an encoder of the families {', '.join(f.name for f in FAMILIES)} "
                        f"(e.g. BertForSequenceClassification); got {type(model).__name__}")
    if len(layers) != model.config.num_hidden_layers:
        raise UserError(f"{type(model).__name__} has {len(layers)} encoder layers but its config says "
                        f"num_hidden_layers={model.config.num_hidden_layers}")
    return layers


def make_student(model: Any, keep: Sequence[int]) -> Any:
    """A new model: a deep copy of ``model`` whose encoder holds only the layers ``keep`` (copies,
    in that order). ``model`` is not modified. The config is updated (``num_hidden_layers`` and
    any per-layer fields), so ``save_pretrained`` / ``from_pretrained`` round-trip it as the same
    class, e.g. a plain ``BertForSequenceClassification``."""
    import torch

    layers = encoder_layers(model)
    keep = select_layers(len(layers), len(keep), "list", keep)  # validates
    # One memo for the kept layers and the model, so the layers' references to the config (HF
    # attention modules keep one) point at the copied config, and the dropped layers are never
    # copied: seeding the memo with the old ModuleList makes deepcopy reuse the new one.
    memo: dict[int, Any] = {}
    kept = torch.nn.ModuleList(copy.deepcopy(layers[i], memo) for i in keep)
    memo[id(layers)] = kept
    student = copy.deepcopy(model, memo)
    _renumber(kept)
    cfg = student.config
    old_n = cfg.num_hidden_layers
    cfg.num_hidden_layers = len(keep)
    for name in PER_LAYER_CONFIG_FIELDS:
        values = getattr(cfg, name, None)
        if isinstance(values, list) and len(values) == old_n:
            setattr(cfg, name, [values[i] for i in keep])
    pruned = getattr(cfg, "pruned_heads", None)
    if pruned:  # transformers 4.x: re-applied by layer index on load, so renumber with the layers
        cfg.pruned_heads = {new: pruned[old] for new, old in enumerate(keep) if old in pruned}
    return student


def _renumber(layers: Any) -> None:
    """HF attention modules carry ``layer_idx`` (for KV caches); make it the new position."""
    for new, layer in enumerate(layers):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def prediction_loss(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """Distillation of the predictions (logits, or whole model outputs).

    Classification: ``KL(softmax(t / T) || softmax(s / T)) * T**2`` averaged over the batch
    (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"). Dividing by ``T`` softens
    both distributions so the teacher's "dark knowledge" (which wrong classes it finds plausible)
    carries signal; ``T**2`` keeps the gradient scale independent of ``T``.
    Regression (one output): plain MSE to the teacher's score, which has no distribution to soften.
    Extractive QA (outputs with ``start_logits``/``end_logits``): the mean of that KL over the
    span-start and the span-end distributions across tokens.
    """
    import torch.nn.functional as F

    if getattr(student_logits, "start_logits", None) is not None:
        return (prediction_loss(student_logits.start_logits, teacher_logits.start_logits, temperature)
                + prediction_loss(student_logits.end_logits, teacher_logits.end_logits, temperature)) / 2
    student_logits = getattr(student_logits, "logits", student_logits)
    teacher_logits = getattr(teacher_logits, "logits", teacher_logits)
    s, t = student_logits.float(), teacher_logits.float()
    if s.shape[-1] == 1:
        return F.mse_loss(s, t)
    return F.kl_div(F.log_softmax(s / temperature, dim=-1), F.log_softmax(t / temperature, dim=-1),
                    log_target=True, reduction="batchmean") * temperature**2


def hidden_loss(student_states: Sequence[Any], teacher_states: Sequence[Any], pairs: Sequence[tuple[int, int]],
                attention_mask: Any | None) -> Any:
    """Mean over ``pairs`` of the MSE between student and teacher hidden states (PKD, Sun et al.
    2019; TinyBERT, Jiao et al. 2020, without a projection since both widths are equal here).

    Padding positions are masked out: their states are whatever the model makes of [PAD] and would
    otherwise dilute (and with dynamic padding, randomly reweight) the loss."""
    import torch

    first_s, first_t = student_states[0], teacher_states[0]
    if first_s.shape[-1] != first_t.shape[-1]:
        raise UserError(f"distill: student hidden size {first_s.shape[-1]} != teacher's {first_t.shape[-1]}; "
                        "hidden-state distillation needs equal widths (set distill.alpha_hidden=0)")
    if attention_mask is None:
        mask = torch.ones(first_s.shape[:-1], device=first_s.device)
    else:
        mask = attention_mask.to(first_s.device, torch.float32)
    mask = mask.unsqueeze(-1)
    denom = mask.sum().clamp_min(1.0) * first_s.shape[-1]
    losses = [((student_states[i].float() - teacher_states[j].float()) ** 2 * mask).sum() / denom
              for i, j in pairs]
    return torch.stack(losses).mean()


def make_loss_fn(teacher: Any, student_to_teacher: dict[int, int], *, temperature: float = 2.0,
                 alpha_kd: float = 1.0, alpha_hidden: float = 1.0, alpha_hard: float = 0.0) -> Any:
    """A ``loss_fn(model, batch) -> (loss, parts)`` for :func:`greenprune.training.train`.

    ``loss = alpha_kd * kd + alpha_hidden * hidden + alpha_hard * hard`` where ``hard`` is the
    model's own loss on the gold labels (cross-entropy, or MSE for regression). ``parts`` logs
    ``kd``, ``hidden`` (when used), ``hard`` (always, as a diagnostic) and the total as ``loss``.
    The teacher runs in eval mode under ``no_grad`` on the batch's device; the caller restores its
    mode and device afterwards.
    """
    import torch

    pairs = hidden_state_pairs(student_to_teacher)
    want_hidden = alpha_hidden > 0

    def loss_fn(model: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, float]]:
        device = batch["input_ids"].device
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        if teacher.training:
            teacher.eval()  # no dropout: the targets must be the teacher's actual predictions
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        with torch.no_grad():
            t_out = teacher(**inputs, output_hidden_states=want_hidden)
        s_out = model(**batch, output_hidden_states=want_hidden)
        kd = prediction_loss(s_out, t_out, temperature)  # whole outputs: QA has start and end logits
        total = alpha_kd * kd
        parts = {"kd": float(kd.detach())}
        if want_hidden:
            hid = hidden_loss(s_out.hidden_states, t_out.hidden_states, pairs, batch.get("attention_mask"))
            total = total + alpha_hidden * hid
            parts["hidden"] = float(hid.detach())
        if s_out.loss is not None:
            parts["hard"] = float(s_out.loss.detach())
            if alpha_hard > 0:
                total = total + alpha_hard * s_out.loss
        parts["loss"] = float(total.detach())
        return total, parts

    return loss_fn
