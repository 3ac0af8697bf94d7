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
    """Parameters of the encoder layers' Linear projections (Q, K, V, O, FFN up and down, with
    biases): what structured pruning can remove. LayerNorms, adapters and embeddings are excluded
    so sparsity means the same thing for every compressor."""
    import torch

    total = 0
    for mod_name, module in model.named_modules():
        if ".encoder.layer." not in f".{mod_name}." or not isinstance(module, torch.nn.Linear):
            continue
        if "adapter" in mod_name:
            continue
        total += sum(p.numel() for p in module.parameters(recurse=False))
    return total


def bytes_on_disk(model: Any) -> int:
    """Size of the model saved as safetensors (weights only)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        return sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))


def per_layer_sizes(model: Any) -> list[dict[str, Any]]:
    """Kept sizes per encoder layer: Q/K/V output dims, heads, FFN width, hidden (None = removed)."""
    try:
        from greenprune.models.prune import per_layer_sizes as compact_sizes
    except ImportError:  # pragma: no cover - the compact architecture is optional at this layer
        compact_sizes = None
    if compact_sizes is not None and getattr(model.config, "model_type", "") == "greenprune-bert":
        return compact_sizes(model)
    cfg = model.config
    head = cfg.hidden_size // cfg.num_attention_heads
    return [
        {"layer": i, "heads": cfg.num_attention_heads, "q": cfg.num_attention_heads * head,
         "k": cfg.num_attention_heads * head, "v": cfg.num_attention_heads * head,
         "ffn": cfg.intermediate_size, "hidden": cfg.hidden_size}
        for i in range(cfg.num_hidden_layers)
    ]


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
