"""A BERT whose layers may each keep a different number of heads and FFN units and a pruned hidden width.

transformers 5.x has neither ``prune_heads`` nor ``head_mask``, so greenprune owns this architecture.
Module and parameter names follow HF BERT (``bert.encoder.layer.{i}.attention.self.query``,
``attention.output.dense``, ``intermediate.dense``, ``output.dense``, ``bert.pooler.dense``,
``classifier`` ...), so a dense HF ``BertForSequenceClassification`` state dict loads unchanged and
adapters can find the projections by name. The forward optionally takes CoFi gates
(:class:`~greenprune.models.masks.CofiMasks`; Xia, Zhong, Chen, ACL 2022), soft or deterministic.

Sizes in the config: ``hidden_size``, ``num_attention_heads`` and ``intermediate_size`` stay those of the
dense model the compact one came from (they define the sparsity reference and the pooler/classifier
width); the actual sizes are ``layer_heads``, ``layer_ffn`` (0 = block removed), ``head_size`` and
``kept_hidden`` (width of the embeddings and of the residual stream).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from greenprune.models.layers import (
    CompactBertEmbeddings,
    CompactBertLayer,
    CompactBertPooler,
    HiddenGate,
    LayerGates,
)
from greenprune.models.masks import CofiMasks

MODEL_TYPE = "greenprune-bert"

#: HF BertConfig fields copied as they are by :meth:`CompactBertConfig.from_bert_config`.
BERT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
    "classifier_dropout",
)


class CompactBertConfig(PretrainedConfig):
    """BERT config plus per-layer sizes (see the module docstring for what each size means)."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int | None = 0,
        classifier_dropout: float | None = None,
        layer_heads: list[int] | None = None,
        layer_ffn: list[int] | None = None,
        head_size: int | None = None,
        kept_hidden: int | None = None,
        **kwargs: Any,
    ) -> None:
        # A plain __init__ (not dataclass fields) so the class works with transformers 4.x and 5.x.
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout
        if head_size is None:
            if hidden_size % num_attention_heads:
                raise ValueError(f"hidden_size {hidden_size} is not a multiple of {num_attention_heads} heads")
            head_size = hidden_size // num_attention_heads
        self.head_size = int(head_size)
        self.layer_heads: list[int] = ([int(h) for h in layer_heads] if layer_heads is not None
                                       else [num_attention_heads] * num_hidden_layers)
        self.layer_ffn: list[int] = ([int(f) for f in layer_ffn] if layer_ffn is not None
                                     else [intermediate_size] * num_hidden_layers)
        self.kept_hidden = int(kept_hidden) if kept_hidden is not None else hidden_size
        self._check()
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def _check(self) -> None:
        n = self.num_hidden_layers
        if len(self.layer_heads) != n or len(self.layer_ffn) != n:
            raise ValueError(f"layer_heads/layer_ffn must have {n} entries (num_hidden_layers)")
        if any(h < 0 or h > self.num_attention_heads for h in self.layer_heads):
            raise ValueError(f"layer_heads {self.layer_heads} outside [0, {self.num_attention_heads}]")
        if any(f < 0 or f > self.intermediate_size for f in self.layer_ffn):
            raise ValueError(f"layer_ffn {self.layer_ffn} outside [0, {self.intermediate_size}]")
        if not 1 <= self.kept_hidden <= self.hidden_size:
            raise ValueError(f"kept_hidden {self.kept_hidden} outside [1, {self.hidden_size}]")

    @classmethod
    def from_bert_config(cls, bert_config: Any, **overrides: Any) -> CompactBertConfig:
        """Dense compact config with the fields (and labels) of a HF ``BertConfig``."""
        kwargs: dict[str, Any] = {f: getattr(bert_config, f) for f in BERT_FIELDS if hasattr(bert_config, f)}
        kwargs.update(
            id2label=dict(bert_config.id2label),
            label2id=dict(bert_config.label2id),
            problem_type=bert_config.problem_type,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def is_dense(self) -> bool:
        """True when nothing has been pruned from this architecture."""
        return (
            all(h == self.num_attention_heads for h in self.layer_heads)
            and all(f == self.intermediate_size for f in self.layer_ffn)
            and self.kept_hidden == self.hidden_size
        )


class CompactBertPreTrainedModel(PreTrainedModel):
    config_class = CompactBertConfig
    base_model_prefix = "bert"
    main_input_name = "input_ids"


class CompactBertEncoder(nn.Module):
    def __init__(self, config: CompactBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(CompactBertLayer(config, i) for i in range(config.num_hidden_layers))

    def forward(
        self,
        x: torch.Tensor,
        additive_mask: torch.Tensor | None,
        gates: list[LayerGates],
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        states: list[torch.Tensor] = [x]
        for layer, g in zip(self.layer, gates, strict=True):
            x = layer(x, additive_mask, g)
            states.append(x)
        return x, (tuple(states) if output_hidden_states else None)


def layer_gates(config: CompactBertConfig, masks: CofiMasks | None) -> list[LayerGates]:
    """Split ``masks`` into per-layer gates, checking shapes against this architecture."""
    n = config.num_hidden_layers
    if masks is None or masks.is_empty():
        return [LayerGates() for _ in range(n)]
    for name, sizes in (("head_z", config.layer_heads), ("int_z", config.layer_ffn)):
        if getattr(masks, name) is not None and (len(set(sizes)) != 1 or sizes[0] == 0):
            raise ValueError(f"{name} needs every layer to have the same non-zero width, got {sizes}")
    masks.validate(n, config.layer_heads[0], config.layer_ffn[0], config.kept_hidden)
    hidden = HiddenGate.from_z(masks.hidden_z) if masks.hidden_z is not None else None
    attn, ffn = masks.attention_active(n), masks.ffn_active(n)

    def row(t: torch.Tensor | None, i: int) -> torch.Tensor | None:
        return None if t is None else t[i]

    return [
        LayerGates(
            head_z=row(masks.head_z, i),
            mha_z=row(masks.mha_z, i),
            int_z=row(masks.int_z, i),
            ffn_z=row(masks.ffn_z, i),
            hidden=hidden,
            attention=attn[i],
            ffn=ffn[i],
        )
        for i in range(n)
    ]


class CompactBertModel(CompactBertPreTrainedModel):
    """Embeddings + encoder + pooler; returns ``BaseModelOutputWithPooling``."""

    def __init__(self, config: CompactBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = CompactBertEmbeddings(config)
        self.encoder = CompactBertEncoder(config)
        self.pooler = CompactBertPooler(config.kept_hidden, config.hidden_size) if add_pooling_layer else None
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
        masks: CofiMasks | None = None,
    ) -> BaseModelOutputWithPooling | tuple[Any, ...]:
        if input_ids is None:
            raise ValueError("input_ids is required")
        if output_hidden_states is None:
            output_hidden_states = bool(self.config.output_hidden_states)
        if masks is not None:
            masks = masks.to(device=input_ids.device)  # differentiable; a no-op when already there
        gates = layer_gates(self.config, masks)
        x = self.embeddings(input_ids, token_type_ids, position_ids, gates[0].hidden if gates else None)
        additive = None
        if attention_mask is not None:
            # Same additive form as HF's extended attention mask: 0 to attend, dtype-min to ignore.
            keep = attention_mask[:, None, None, :].to(x.dtype)
            additive = (1.0 - keep) * torch.finfo(x.dtype).min
        last, states = self.encoder(x, additive, gates, output_hidden_states)
        pooled = self.pooler(last) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled, hidden_states=states)
        return out if return_dict is not False else out.to_tuple()


class CompactBertForSequenceClassification(CompactBertPreTrainedModel):
    """Sequence classification / regression head on :class:`CompactBertModel` (HF semantics)."""

    def __init__(self, config: CompactBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = CompactBertModel(config)
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
        masks: CofiMasks | None = None,
    ) -> SequenceClassifierOutput | tuple[Any, ...]:
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            output_hidden_states=output_hidden_states,
            masks=masks,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = self._loss(logits, labels) if labels is not None else None
        out = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
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
