"""An encoder whose layers may each keep a different number of heads and FFN units and a pruned hidden width.

transformers 5.x has neither ``prune_heads`` nor ``head_mask``, so greenprune owns this architecture; any
structured pruner can shrink a model into it. Module and parameter names follow HF BERT's layout
(``<prefix>.encoder.layer.{i}.attention.self.query``, ``attention.output.dense``, ``intermediate.dense``,
``output.dense``, ``<prefix>.pooler.dense``, ``classifier`` ...), with ``<prefix>`` the family's name
(``bert``, ``roberta``), so a dense HF state dict loads and tuners find the projections where the
family description says (:mod:`greenprune.structure.families`). The forward optionally takes
:class:`~greenprune.structure.compact.scales.UnitScales`, which is how a structured pruner trains.

The classes here are family-neutral; ``classes.py`` derives each family's config and model classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from greenprune.structure.compact.config import CompactEncoderConfig
from greenprune.structure.compact.layers import CompactEmbeddings, CompactLayer, CompactPooler, HiddenScale, LayerScales
from greenprune.structure.compact.scales import UnitScales


class CompactPreTrainedModel(PreTrainedModel):
    config_class = CompactEncoderConfig
    #: the backbone's attribute; each family's classes set their own (``classes.py``)
    base_model_prefix = "encoder_model"
    main_input_name = "input_ids"


class CompactEncoder(nn.Module):
    def __init__(self, config: CompactEncoderConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(CompactLayer(config, i) for i in range(config.num_hidden_layers))

    def forward(
        self,
        x: torch.Tensor,
        additive_mask: torch.Tensor | None,
        scales: list[LayerScales],
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        # Keep the layer outputs only when asked: held, each layer's output (batch x seq x hidden)
        # stays allocated to the end, so the allocator cannot reuse it and every LayerNorm and
        # residual add writes into fresh pages (those two ops ran ~2x slower than in a plain
        # encoder of the same shape; benchmarks/compact_vs_plain.py --profile).
        states: list[torch.Tensor] | None = [x] if output_hidden_states else None
        for layer, g in zip(self.layer, scales, strict=True):
            x = layer(x, additive_mask, g)
            if states is not None:
                states.append(x)
        return x, (tuple(states) if states is not None else None)


def layer_scales(config: CompactEncoderConfig, scales: UnitScales | None) -> list[LayerScales]:
    """Split ``scales`` into per-layer scales, checking shapes against this architecture."""
    n = config.num_hidden_layers
    if scales is None or scales.is_empty():
        return [LayerScales() for _ in range(n)]
    for name, sizes in (("heads", config.layer_heads), ("units", config.layer_ffn)):
        if getattr(scales, name) is not None and (len(set(sizes)) != 1 or sizes[0] == 0):
            raise ValueError(f"{name} needs every layer to have the same non-zero width, got {sizes}")
    scales.validate(n, config.layer_heads[0], config.layer_ffn[0], config.kept_hidden)
    hidden = HiddenScale.from_z(scales.hidden) if scales.hidden is not None else None
    attn, ffn = scales.attention_active(n), scales.ffn_active(n)

    def row(t: torch.Tensor | None, i: int) -> torch.Tensor | None:
        return None if t is None else t[i]

    return [
        LayerScales(heads=row(scales.heads, i), attention_block=row(scales.attention, i), units=row(scales.units, i),
                    ffn_block=row(scales.ffn, i), hidden=hidden, attention=attn[i], ffn=ffn[i])
        for i in range(n)
    ]


class CompactEncoderModel(CompactPreTrainedModel):
    """Embeddings + encoder + pooler; returns ``BaseModelOutputWithPooling``."""

    def __init__(self, config: CompactEncoderConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = CompactEmbeddings(config)
        self.encoder = CompactEncoder(config)
        self.pooler = CompactPooler(config.kept_hidden, config.hidden_size) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        unit_scales: UnitScales | None = None,
    ) -> BaseModelOutputWithPooling | tuple[Any, ...]:
        last, pooled, states = self.encode(input_ids, attention_mask, token_type_ids, position_ids,
                                           output_hidden_states, unit_scales)
        out = BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled, hidden_states=states)
        return out if return_dict is not False else out.to_tuple()

    def encode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        unit_scales: UnitScales | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...] | None]:
        """``forward`` as a plain tuple (last hidden state, pooled, hidden states).

        The task heads call this rather than ``forward``: building a ``ModelOutput`` costs ~0.1 ms
        (dataclass fields, ordered-dict writes), a few % of a batch-1 forward of a small student.
        """
        if input_ids is None:
            raise ValueError("input_ids is required")
        if output_hidden_states is None:
            output_hidden_states = bool(self.config.output_hidden_states)
        if unit_scales is not None:
            unit_scales = unit_scales.to(device=input_ids.device)  # differentiable; a no-op when already there
        scales = layer_scales(self.config, unit_scales)
        x = self.embeddings(input_ids, token_type_ids, position_ids, scales[0].hidden if scales else None)
        additive = None
        if attention_mask is not None:
            # Same additive form as HF's extended attention mask: 0 to attend, dtype-min to ignore.
            keep = attention_mask[:, None, None, :].to(x.dtype)
            additive = (1.0 - keep) * torch.finfo(x.dtype).min
        last, states = self.encoder(x, additive, scales, output_hidden_states)
        pooled = self.pooler(last) if self.pooler is not None else None
        return last, pooled, states


class CompactEncoderForSequenceClassification(CompactPreTrainedModel):
    """Sequence classification / regression head on :class:`CompactEncoderModel` (HF BERT semantics:
    pooler, dropout, classifier; RoBERTa's head is the same function, its dense layer being the pooler)."""

    def __init__(self, config: CompactEncoderConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, CompactEncoderModel(config))
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        unit_scales: UnitScales | None = None,
    ) -> SequenceClassifierOutput | tuple[Any, ...]:
        _, pooled, states = self.base_model.encode(input_ids, attention_mask, token_type_ids, position_ids,
                                                   output_hidden_states, unit_scales)
        logits = self.classifier(self.dropout(pooled))
        loss = self._loss(logits, labels) if labels is not None else None
        out = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=states)
        return out if return_dict is not False else out.to_tuple()

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # HF's problem_type rules, without writing the inferred type back into the config.
        problem = self.config.problem_type
        if problem is None:
            if self.num_labels == 1:
                problem = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            if self.num_labels == 1:
                return MSELoss()(logits.view(-1), labels.view(-1).to(logits.dtype))
            return MSELoss()(logits, labels.to(logits.dtype))
        if problem == "single_label_classification":
            return CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
