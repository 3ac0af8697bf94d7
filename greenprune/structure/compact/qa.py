"""Extractive question-answering head on the compact encoder (HF ``BertForQuestionAnswering`` semantics).

Like HF, the backbone has no pooler and ``qa_outputs`` maps every token's final hidden state to a
start and an end logit, so a dense HF ``BertForQuestionAnswering`` state dict loads unchanged. Its
input is the residual stream, so its width is ``kept_hidden``: hidden-dimension pruning slices its
input columns. HF RoBERTa's QA head is the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import CrossEntropyLoss
from transformers.modeling_outputs import QuestionAnsweringModelOutput

from greenprune.structure.compact.config import CompactEncoderConfig
from greenprune.structure.compact.model import CompactEncoderModel, CompactPreTrainedModel
from greenprune.structure.compact.scales import UnitScales


class CompactEncoderForQuestionAnswering(CompactPreTrainedModel):
    """Span start/end logits per token on :class:`CompactEncoderModel`; optional unit scales."""

    def __init__(self, config: CompactEncoderConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, CompactEncoderModel(config, add_pooling_layer=False))
        self.qa_outputs = nn.Linear(config.kept_hidden, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        unit_scales: UnitScales | None = None,
    ) -> QuestionAnsweringModelOutput | tuple[Any, ...]:
        # The tuple path, as the classification head: no intermediate ModelOutput per forward.
        last, _, states = self.base_model.encode(input_ids, attention_mask, token_type_ids, position_ids,
                                                 output_hidden_states, unit_scales)
        logits = self.qa_outputs(last)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        out = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                           hidden_states=states)
        return out if return_dict is not False else out.to_tuple()


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
              end_positions: torch.Tensor) -> torch.Tensor:
    """Mean of the start and end cross-entropies, as HF computes it: positions outside the
    sequence are clamped to its length and ignored."""
    length = start_logits.size(1)
    start = start_positions.view(-1).clamp(0, length)
    end = end_positions.view(-1).clamp(0, length)
    ce = CrossEntropyLoss(ignore_index=length)
    return (ce(start_logits, start) + ce(end_logits, end)) / 2
