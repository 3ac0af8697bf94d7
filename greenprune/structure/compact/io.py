"""Converting HF encoders to the compact encoder, and saving / loading compact models.

A saved directory is an ordinary transformers checkpoint whose config has ``model_type``
``greenprune-<family>`` (``greenprune-bert`` as before); after ``import greenprune.structure.compact``
it also loads through ``AutoModelForSequenceClassification.from_pretrained`` (``AutoModelForQuestionAnswering``
for a QA head).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from greenprune.structure.compact.classes import classes_of, compact_classes
from greenprune.structure.compact.model import CompactEncoderForSequenceClassification
from greenprune.structure.compact.qa import CompactEncoderForQuestionAnswering
from greenprune.structure.families import family_of, unwrap
from greenprune.structure.surgery import SurgeryEvent

#: a compact model with either task head
CompactModel = CompactEncoderForSequenceClassification | CompactEncoderForQuestionAnswering


def is_compact(model: Any) -> bool:
    return classes_of(model) is not None


def save_compact(model: CompactModel, tokenizer: Any | None, path: str | Path) -> Path:
    """Write ``model`` (safetensors weights + config.json) and, if given, ``tokenizer`` to ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))
    return path


def load_compact(path: str | Path, device: str | None = None) -> CompactModel:
    """Load a model written by :func:`save_compact` (the family and head its config names), in eval mode."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path))
    classes = classes_of(config)
    if classes is None:
        raise ValueError(f"{path}: model_type {config.model_type!r} is no compact encoder")
    qa = classes.qa.__name__ in (config.architectures or [])
    model = (classes.qa if qa else classes.sequence).from_pretrained(str(path))
    if device is not None:
        model = model.to(device)
    return model.eval()


def from_hf(hf_model: Any, exclude: Iterable[str] = ()) -> CompactModel:
    """Dense compact copy of a HF encoder with a sequence-classification or QA head (any depth,
    width, heads) of a known family (BERT, RoBERTa).

    ``exclude``: state-dict keys that are not the architecture's (a tuner's own modules, which the
    tuner carries over itself through ``on_surgery``; see ``Tuner.state_keys``)."""
    hf_model = unwrap(hf_model)
    family = family_of(hf_model)
    if family is None:
        raise ValueError(f"{type(hf_model).__name__} ({getattr(hf_model.config, 'model_type', '?')}) is no "
                         "known encoder family")
    classes = compact_classes(family.name)
    config = classes.config.from_hf_config(hf_model.config, positions_after_padding=family.positions_after_padding)
    # HF's QA model is recognised by its head: the span projection ``qa_outputs``.
    qa = isinstance(getattr(hf_model, "qa_outputs", None), torch.nn.Linear)
    model = (classes.qa if qa else classes.sequence)(config)
    ref = next(hf_model.parameters())
    model.to(device=ref.device, dtype=ref.dtype)
    skip = set(exclude)

    def source(key: str) -> str:
        for old, new in family.hf_key_map:
            if key.startswith(new):
                return old + key[len(new):]
        return key

    # Each compact tensor is read through the HF model's module at the same place (not its state-dict
    # name): a projection a tuner wrapped (peft's LoRA keeps the weight at ``query.base_layer.weight``)
    # answers ``query.weight``, and the tuner's own tensors are never read (it carries them itself,
    # through ``on_surgery``). Position / token-type id buffers are built on the fly, not loaded.
    state = {}
    for key in model.state_dict():
        name = source(key)
        if name in skip:
            continue
        prefix, _, part = name.rpartition(".")
        state[key] = getattr(hf_model.get_submodule(prefix), part).detach()
    model.load_state_dict(state, strict=True)
    return model.train(hf_model.training)


def conversion_events(hf_model: Any) -> list[SurgeryEvent]:
    """What :func:`from_hf` does to the modules of ``hf_model``, as surgery events for a tuner whose
    modules sit on them: every module it moves (the family's ``hf_key_map``, e.g. RoBERTa's
    ``classifier.dense`` -> ``roberta.pooler.dense``) with its HF name as ``source``. Every other
    module keeps its name and shape (no event); a compact model converts to itself (no events)."""
    hf_model = unwrap(hf_model)
    family = family_of(hf_model)
    if family is None:
        return []
    names = {name for name, _ in hf_model.named_modules()}
    return [SurgeryEvent(new.rstrip("."), source=old.rstrip(".")) for old, new in family.hf_key_map
            if old.rstrip(".") in names]
