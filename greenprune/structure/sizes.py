"""Size accounting for any student: what is present, what is non-zero, and sparsity of both kinds.

*Encoder parameters* are the weights and biases of every encoder layer's six projections (Q, K, V,
attention output, FFN up, FFN down; found through :mod:`greenprune.structure.families`): exactly what
structured pruning can remove. Embeddings, LayerNorms, the head and a tuner's own modules are left
out, so sparsity means the same for every compressor and tuner. Two kinds of sparsity follow:

* *structured*: 1 - encoder parameters present / the teacher's (parameters physically removed);
* *unstructured*: the share of zeros among the encoder parameters present (weights zeroed in place).

A student pruned to half its size has structured 0.5, unstructured ~0; one whose weights are half
zeros has structured 0, unstructured 0.5.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenprune.structure.families import layer_projections, unwrap


@dataclass(frozen=True)
class EncoderCount:
    present: int  # encoder parameters present
    nonzero: int  # of those, not exactly zero


def _tensors(projection: Any) -> list[Any]:
    # ``weight``/``bias`` of the module at the projection's place: a wrapper (peft's LoRA layer)
    # answers with its base layer's, so a wrapped projection counts as the projection it wraps.
    return [t for t in (getattr(projection, "weight", None), getattr(projection, "bias", None)) if t is not None]


def count_encoder(model: Any) -> EncoderCount:
    """Encoder parameters present in ``model`` and how many are non-zero."""
    present = nonzero = 0
    for projections in layer_projections(model):
        for projection in projections.values():
            for t in _tensors(projection):
                present += t.numel()
                nonzero += int(t.detach().count_nonzero())
    return EncoderCount(present, nonzero)


def encoder_params(model: Any) -> int:
    return count_encoder(model).present


def dtypes(model: Any) -> dict[str, int]:
    """Parameters per dtype, e.g. ``{"float32": 22713216}``."""
    out: dict[str, int] = {}
    for p in unwrap(model).parameters():
        key = str(p.dtype).removeprefix("torch.")
        out[key] = out.get(key, 0) + p.numel()
    return out


def bytes_on_disk(model: Any) -> int:
    """Size of the model saved as safetensors (weights only)."""
    with tempfile.TemporaryDirectory() as tmp:
        unwrap(model).save_pretrained(tmp, safe_serialization=True)
        return sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))


def head_size(config: Any) -> int | None:
    explicit = getattr(config, "head_size", None)
    if explicit:
        return int(explicit)
    heads = getattr(config, "num_attention_heads", None)
    return config.hidden_size // heads if heads else None


def per_layer_sizes(model: Any) -> list[dict[str, Any]]:
    """Per encoder layer: index, Q/K/V output widths, heads, FFN width (None = removed), hidden width;
    read from the modules, so it holds for dense, distilled and compact models of any family."""
    model = unwrap(model)
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    hidden = getattr(embeddings, "embedding_dim", None)
    d = head_size(model.config)

    def out(m: Any) -> int | None:
        return None if m is None else int(m.weight.shape[0])

    sizes = []
    for i, p in enumerate(layer_projections(model)):
        q = out(p["q"])
        sizes.append({"layer": i, "q": q, "k": out(p["k"]), "v": out(p["v"]),
                      "heads": q // d if q is not None and d else None, "ffn": out(p["ffn_up"]), "hidden": hidden})
    return sizes
