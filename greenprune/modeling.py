"""Models as the runner sees them: a bundle of model + tokenizer, and how big a model is."""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenprune.results import ModelSize


@dataclass
class ModelBundle:
    """A model, its tokenizer, and where it came from: what phases hand each other."""

    #: the ``torch.nn.Module`` (a transformers model with the task's head)
    model: Any
    #: the transformers tokenizer that goes with it
    tokenizer: Any
    #: the teacher spec it descends from (``minilm``, a folder, a Hub id)
    name: str
    #: a label for logs and reports, e.g. ``pretrained:minilm``, ``finetuned``, ``compressed:cofi``
    origin: str
    #: free-form facts later phases may read (``fingerprint``, ``teacher_layer_ids``, ...)
    info: dict[str, Any] = field(default_factory=dict)
    #: True only for the pretrained weights as the teacher loader returned them (no task training
    #: yet): a tuner may then serve the teacher's cached fine-tune instead of training again
    pretrained: bool = False

    def clone(self, origin: str | None = None, *, pretrained: bool | None = None) -> ModelBundle:
        """A deep copy of the model (tokenizer shared); ``origin`` and ``pretrained`` kept unless given."""
        return ModelBundle(copy.deepcopy(self.model), self.tokenizer, self.name, origin or self.origin,
                           dict(self.info), self.pretrained if pretrained is None else pretrained)


def encoder_params(model: Any) -> int:
    """Parameters of the encoder layers' projections (Q, K, V, O, FFN up and down, with biases):
    what structured pruning can remove. LayerNorms, adapters and embeddings are excluded so sparsity
    means the same thing for every compressor (the count CoFi's sparsity target uses)."""
    from greenprune.models import count_prunable_params

    return count_prunable_params(model)


def bytes_on_disk(model: Any) -> int:
    """Size of the model saved as safetensors (weights only)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        return sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))


def per_layer_sizes(model: Any) -> list[dict[str, Any]]:
    """Kept sizes per encoder layer: Q/K/V output dims, heads, FFN width, hidden (None = removed);
    read from the modules, so it holds for HF BERT, distilled and compact models alike."""
    from greenprune.models import per_layer_sizes as sizes

    return sizes(model)


def model_size(model: Any, reference_encoder_params: int | None = None) -> ModelSize:
    enc = encoder_params(model)
    return ModelSize(
        encoder_params=enc,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        bytes_on_disk=bytes_on_disk(model),
        measured_sparsity=(1 - enc / reference_encoder_params) if reference_encoder_params else None,
        layers=per_layer_sizes(model),
    )
