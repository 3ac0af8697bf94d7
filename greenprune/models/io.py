"""Saving, loading and converting CompactBert models (safetensors + config.json, HF-loadable).

A saved directory is an ordinary transformers checkpoint whose config has ``model_type`` =
``"greenprune-bert"``; after ``import greenprune.models`` it also loads through
``AutoModelForSequenceClassification.from_pretrained`` (``AutoModelForQuestionAnswering`` for a QA head).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from greenprune.models.compact_bert import CompactBertConfig, CompactBertForSequenceClassification
from greenprune.models.compact_qa import CompactBertForQuestionAnswering

#: a compact model with either task head
CompactModel = CompactBertForSequenceClassification | CompactBertForQuestionAnswering


def save_compact(model: CompactModel, tokenizer: Any | None, path: str | Path) -> Path:
    """Write ``model`` (safetensors weights + config.json) and, if given, ``tokenizer`` to ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))
    return path


def load_compact(path: str | Path, device: str | None = None) -> CompactModel:
    """Load a model written by :func:`save_compact` (the head its config names), in eval mode."""
    config = CompactBertConfig.from_pretrained(str(path))
    qa = CompactBertForQuestionAnswering.__name__ in (config.architectures or [])
    cls = CompactBertForQuestionAnswering if qa else CompactBertForSequenceClassification
    model = cls.from_pretrained(str(path))
    if device is not None:
        model = model.to(device)
    return model.eval()


def from_hf_bert(hf_model: Any) -> CompactModel:
    """Dense CompactBert copy of a HF ``BertForSequenceClassification`` or ``BertForQuestionAnswering``
    (any depth, width, heads)."""
    config = CompactBertConfig.from_bert_config(hf_model.config)
    # HF's QA model is recognised by its head: the span projection ``qa_outputs``.
    qa = isinstance(getattr(hf_model, "qa_outputs", None), torch.nn.Linear)
    model = (CompactBertForQuestionAnswering if qa else CompactBertForSequenceClassification)(config)
    ref = next(hf_model.parameters())
    model.to(device=ref.device, dtype=ref.dtype)
    # Older transformers versions stored position_ids / token_type_ids buffers; we build them on the fly.
    # Adapters (a tuner's modules, e.g. from an earlier phase) are not part of the architecture: the
    # tuner carries them over itself (``on_surgery``).
    state = {k: v for k, v in hf_model.state_dict().items()
             if not k.endswith(("position_ids", "token_type_ids")) and ".adapter." not in k}
    model.load_state_dict(state, strict=True)
    return model.train(hf_model.training)
