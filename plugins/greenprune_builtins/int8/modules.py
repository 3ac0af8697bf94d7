"""Int8 modules whose checkpoints are ordinary int8 tensors.

``Int8Linear`` is PyTorch's dynamic int8 Linear (``torch.ao.nn.quantized.dynamic.Linear``: int8
weights, per-output-channel scales, activations quantized per batch on the fly, fbgemm/x86 kernels).
Its own state dict holds a packed object that safetensors cannot store, so this subclass writes the
int8 weight, its scales and zero points and the float bias as plain tensors, and repacks them when
loaded. ``Int8Embedding`` stores an embedding table as int8 with one float scale per row (weight-only:
a lookup dequantizes only the rows it gathers). Word embeddings are most of a pruned BERT's bytes
(30522 x 384 in MiniLM, 11.7M of its 22.7M parameters), so without this the int8 student stays large.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.ao.nn.quantized.dynamic as nnqd
from torch import nn


class Int8Linear(nnqd.Linear):
    """Dynamic int8 Linear (per-channel weight scales) with a plain-tensor state dict."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # torch keeps the packed weight in a child module whose state dict holds a dtype and a packed
        # object; held as a plain attribute it stays out of the state dict this class writes itself.
        packed = self._modules.pop("_packed_params")
        object.__setattr__(self, "_packed_params", packed)

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        weight, bias = self._weight_bias()
        destination[prefix + "weight_int8"] = weight.int_repr()
        destination[prefix + "weight_scale"] = weight.q_per_channel_scales().to(torch.float64)
        destination[prefix + "weight_zero_point"] = weight.q_per_channel_zero_points().to(torch.int64)
        if bias is not None:
            destination[prefix + "bias"] = bias.detach()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        names = ("weight_int8", "weight_scale", "weight_zero_point")
        missing = [prefix + n for n in names if prefix + n not in state_dict]
        if missing:
            missing_keys.extend(missing)
            return
        q, scale, zero = (state_dict[prefix + n] for n in names)
        weight = torch._make_per_channel_quantized_tensor(q, scale.to(torch.float64), zero.to(torch.int64), 0)
        self.set_weight_bias(weight, state_dict.get(prefix + "bias"))

    @classmethod
    def empty(cls, in_features: int, out_features: int, bias: bool) -> Int8Linear:
        """A module of the right shape, to load a saved one into."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that quantized tensors move to torchao
            return cls(in_features, out_features, bias_=bias, dtype=torch.qint8)


def quantize_linears(model: nn.Module) -> list[str]:
    """Replace every ``nn.Linear`` of ``model`` by an :class:`Int8Linear` (in place); return their names."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    names = [n for n, m in model.named_modules() if type(m) is nn.Linear]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice that eager quantization moves to torchao
        quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                         mapping={nn.Linear: Int8Linear}, inplace=True)
    return names


class Int8Embedding(nn.Module):
    """An embedding table in int8 with a float scale per row (symmetric, weight-only)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.register_buffer("weight_int8", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(num_embeddings))

    @classmethod
    def from_float(cls, emb: nn.Embedding) -> Int8Embedding:
        w = emb.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        out = cls(emb.num_embeddings, emb.embedding_dim, emb.padding_idx)
        out.weight_int8.copy_(torch.round(w / scale.unsqueeze(1)).clamp(-127, 127).to(torch.int8))
        out.weight_scale.copy_(scale)
        return out

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight_int8[ids].to(self.weight_scale.dtype) * self.weight_scale[ids].unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8 weight-only"


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def quantize_embeddings(model: nn.Module, names: list[str]) -> None:
    for name in names:
        set_module(model, name, Int8Embedding.from_float(model.get_submodule(name)))
