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
    """A model, its tokenizer, and where it came from."""

    model: Any
    tokenizer: Any
    name: str
    #: e.g. "pretrained:minilm", "teacher", "compressed:cofi"
    origin: str
    info: dict[str, Any] = field(default_factory=dict)

    def clone(self, origin: str | None = None) -> ModelBundle:
        return ModelBundle(copy.deepcopy(self.model), self.tokenizer, self.name, origin or self.origin,
                           dict(self.info))


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
