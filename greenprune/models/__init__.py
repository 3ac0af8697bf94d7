"""greenprune's own BERT: compact (per-layer sized) architecture, CoFi masks, L0 gates, pruning.

Importing this subpackage imports torch and transformers (the rest of greenprune imports it lazily)
and registers ``CompactBertConfig`` / the models with transformers' Auto classes, so that
``AutoModelForSequenceClassification.from_pretrained(saved_dir)`` (``AutoModelForQuestionAnswering`` for the
QA head) works for saved compact models.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from greenprune.models.compact_bert import (
    MODEL_TYPE,
    CompactBertConfig,
    CompactBertForSequenceClassification,
    CompactBertModel,
)
from greenprune.models.compact_qa import CompactBertForQuestionAnswering
from greenprune.models.io import from_hf_bert, load_compact, save_compact
from greenprune.models.l0 import DEFAULT_INIT, CofiMaskModule, HardConcreteGate, log_alpha_for_droprate
from greenprune.models.masks import CofiMasks
from greenprune.models.prune import per_layer_sizes, to_compact
from greenprune.models.sparsity import (
    PrunableShape,
    count_prunable_params,
    dense_prunable_params,
    expected_prunable_params,
    expected_sparsity,
    measured_sparsity,
)

AutoConfig.register(MODEL_TYPE, CompactBertConfig, exist_ok=True)
AutoModel.register(CompactBertConfig, CompactBertModel, exist_ok=True)
AutoModelForSequenceClassification.register(CompactBertConfig, CompactBertForSequenceClassification, exist_ok=True)
AutoModelForQuestionAnswering.register(CompactBertConfig, CompactBertForQuestionAnswering, exist_ok=True)

__all__ = [
    "DEFAULT_INIT",
    "MODEL_TYPE",
    "CofiMaskModule",
    "CofiMasks",
    "CompactBertConfig",
    "CompactBertForQuestionAnswering",
    "CompactBertForSequenceClassification",
    "CompactBertModel",
    "HardConcreteGate",
    "PrunableShape",
    "count_prunable_params",
    "dense_prunable_params",
    "expected_prunable_params",
    "expected_sparsity",
    "from_hf_bert",
    "load_compact",
    "log_alpha_for_droprate",
    "measured_sparsity",
    "per_layer_sizes",
    "save_compact",
    "to_compact",
]
