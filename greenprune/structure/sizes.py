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
    # torch's quantized Linears expose them as methods, their weight as a quantized tensor (counted
    # through its integer values: a zero stays a zero).
    found = []
    for name in ("weight", "bias"):
        t = getattr(projection, name, None)
        if callable(t) and not hasattr(t, "numel"):
            t = t()
        if t is not None:
            found.append(t.int_repr() if t.is_quantized else t)
    return found


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
    """Stored values per dtype, e.g. ``{"float32": 22713216}``: the tensors of the state dict, which
    for an ordinary model are its parameters and for an int8 one its int8 weights and float scales."""
    out: dict[str, int] = {}
    for t in unwrap(model).state_dict().values():
        if hasattr(t, "dtype") and hasattr(t, "numel"):
            key = str(t.dtype).removeprefix("torch.")
            out[key] = out.get(key, 0) + t.numel()
    return out


def bytes_on_disk(model: Any) -> int:
    """Size of the model saved as safetensors (weights only)."""
    return saved_size(model)[0]


def saved_size(model: Any) -> tuple[int, dict[str, int]]:
    """The model saved as safetensors: file bytes, and tensor bytes per dtype read from the files'
    headers (so an int8 student shows its int8 bytes, whatever its modules call their weights)."""
    with tempfile.TemporaryDirectory() as tmp:
        unwrap(model).save_pretrained(tmp, safe_serialization=True)
        files = sorted(Path(tmp).glob("*.safetensors"))
        return sum(p.stat().st_size for p in files), file_dtype_bytes(files)


def file_dtype_bytes(files: Any) -> dict[str, int]:
    """Tensor bytes per dtype (safetensors names: F32, I8, ...) in saved safetensors files."""
    import json
    import struct

    out: dict[str, int] = {}
    for file in files:
        with open(file, "rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        for name, info in header.items():
            if name != "__metadata__":
                start, end = info["data_offsets"]
                out[info["dtype"]] = out.get(info["dtype"], 0) + end - start
    return out


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
        if m is None:
            return None
        # ``out_features``: nn.Linear, torch's int8 Linear (whose ``weight`` is a method) and peft's LoRA layer
        return int(m.out_features) if hasattr(m, "out_features") else int(m.weight.shape[0])

    sizes = []
    for i, p in enumerate(layer_projections(model)):
        q = out(p["q"])
        sizes.append({"layer": i, "q": q, "k": out(p["k"]), "v": out(p["v"]),
                      "heads": q // d if q is not None and d else None, "ffn": out(p["ffn_up"]), "hidden": hidden})
    return sizes
