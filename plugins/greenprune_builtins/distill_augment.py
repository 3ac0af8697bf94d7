"""Perturbed copies of training examples for distillation (after Tang et al. 2019, "Distilling
Task-Specific Knowledge from BERT into Simple Neural Networks", §3.3, and TinyBERT's augmentation).

A student that lost most of its layers learns the teacher's function from the teacher's outputs,
not from gold labels, so it can learn from *any* input the teacher scores. Small task sets (STS-B:
5,749 pairs) run out of inputs long before the student matches the teacher; copies with a few
tokens masked or dropped are near the task's distribution and each gets the teacher's own answer
through the distillation losses. No gold label is claimed for a copy, so augmentation requires the
hard-label weight to be 0 (checked in the options).

Model-free on purpose: Tang et al. also swap words by part of speech and TinyBERT replaces words
with a masked language model's or GloVe's choices; both need resources that do not ship with every
teacher (the embedded MiniLM has no MLM head), while masking and dropping need only the tokenizer.
Works on encoded features, so it is the same for single sentences and pairs; special tokens
([CLS], [SEP]) are never touched.
"""

from __future__ import annotations

import random
from typing import Any

_ALIGNED = ("input_ids", "attention_mask", "token_type_ids")  # per-token fields that move together


def augmented_copies(features: list[dict[str, Any]], tokenizer: Any, copies: int, mask_p: float, drop_p: float,
                     seed: int) -> list[dict[str, Any]]:
    """``copies`` perturbed versions of every feature: each ordinary token is replaced by the mask
    token with probability ``mask_p`` (dropped instead where the tokenizer has none) or removed
    with probability ``drop_p``. Seeded: the same inputs and seed give the same copies."""
    rng = random.Random(seed)
    special = set(tokenizer.all_special_ids)
    mask_id = tokenizer.mask_token_id
    out = []
    for _ in range(copies):
        for feat in features:
            ids = feat["input_ids"]
            keep, new_ids = [], []
            for pos, tok in enumerate(ids):
                u = rng.random()
                if tok in special or u >= mask_p + drop_p:
                    keep.append(pos)
                    new_ids.append(tok)
                elif u < mask_p and mask_id is not None:
                    keep.append(pos)
                    new_ids.append(mask_id)
                # else: dropped
            copy = {k: v for k, v in feat.items() if k not in _ALIGNED}
            copy["input_ids"] = new_ids
            for field in _ALIGNED[1:]:
                if field in feat:
                    copy[field] = [feat[field][p] for p in keep]
            out.append(copy)
    return out
