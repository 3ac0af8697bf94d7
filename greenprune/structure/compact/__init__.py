"""greenprune's compact encoder: per-layer heads and FFN widths, a pruned hidden width, any family.

Importing this subpackage imports torch and transformers (the rest of greenprune imports it lazily)
and registers every family's compact config and models with transformers' Auto classes, so that
``AutoModelForSequenceClassification.from_pretrained(saved_dir)`` (``AutoModelForQuestionAnswering``
for the QA head) works for saved compact models::

    import greenprune.structure.compact  # registers the compact classes with transformers' Auto classes
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from greenprune.structure.compact.classes import CompactClasses, class_named, classes_of, compact_classes, every_family
from greenprune.structure.compact.config import CompactEncoderConfig
from greenprune.structure.compact.io import (
    CompactModel,
    conversion_events,
    from_hf,
    is_compact,
    load_compact,
    save_compact,
)
from greenprune.structure.compact.model import (
    CompactEncoderForSequenceClassification,
    CompactEncoderModel,
    layer_scales,
)
from greenprune.structure.compact.qa import CompactEncoderForQuestionAnswering
from greenprune.structure.compact.scales import UnitScales, kept_index


def register() -> None:
    """Register every family's compact classes with transformers' Auto classes (idempotent)."""
    for c in every_family():
        AutoConfig.register(c.family.compact_model_type, c.config, exist_ok=True)
        AutoModel.register(c.config, c.model, exist_ok=True)
        AutoModelForSequenceClassification.register(c.config, c.sequence, exist_ok=True)
        AutoModelForQuestionAnswering.register(c.config, c.qa, exist_ok=True)


register()

__all__ = [
    "CompactClasses",
    "CompactEncoderConfig",
    "CompactEncoderForQuestionAnswering",
    "CompactEncoderForSequenceClassification",
    "CompactEncoderModel",
    "CompactModel",
    "UnitScales",
    "class_named",
    "classes_of",
    "compact_classes",
    "conversion_events",
    "every_family",
    "from_hf",
    "is_compact",
    "kept_index",
    "layer_scales",
    "load_compact",
    "register",
    "save_compact",
]
