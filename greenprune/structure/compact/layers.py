"""Building blocks of the compact encoder: embeddings, attention, FFN and pooler with per-layer widths.

Every block computes exactly what Hugging Face's BERT (and RoBERTa) computes when no unit scales are
given, so a dense HF state dict loads and reproduces HF logits. When scales are given (``LayerScales``,
from :class:`~greenprune.structure.compact.scales.UnitScales`), they multiply outputs, never weights,
so a pruner's soft scales keep their gradients, and deterministic scales can be folded into the
weights later without changing the function (CoFi, Xia et al., ACL 2022, §3, works this way).

Hidden-dimension scale and LayerNorm: the hidden scale ``z`` multiplies the embedding output and every
sublayer output before the residual add; the LayerNorm then normalises over the dimensions whose scale
is non-zero only, and its output is multiplied by ``z`` again. Normalising over the kept dims, not all
dims, is what makes the scaled model equal to the shrunk one, whose LayerNorm only sees the kept
width. Scales with exact zeros during training follow the same rule: those dims are left out of that
step's statistics and the others are scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN


@dataclass
class HiddenScale:
    """The shared hidden-dim scale of one forward pass, with its kept indices computed once."""

    z: torch.Tensor
    index: torch.Tensor

    @classmethod
    def from_z(cls, z: torch.Tensor) -> HiddenScale:
        return cls(z=z, index=torch.nonzero(z.detach() != 0, as_tuple=False).flatten())


@dataclass
class LayerScales:
    """Unit scales of one encoder layer, plus whether each sublayer survives (see ``scales.py``)."""

    heads: torch.Tensor | None = None
    attention_block: torch.Tensor | None = None
    units: torch.Tensor | None = None
    ffn_block: torch.Tensor | None = None
    hidden: HiddenScale | None = None
    attention: bool = True
    ffn: bool = True


def _scale(x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
    # Cast the scale so a float32 scale does not silently upcast bf16/fp16 activations.
    return x if z is None else x * z.to(x.dtype)


def scaled_layer_norm(x: torch.Tensor, ln: nn.LayerNorm, hidden: HiddenScale | None) -> torch.Tensor:
    """LayerNorm over the kept hidden dims only, then times the hidden scale (zeros elsewhere)."""
    if hidden is None:
        return ln(x)
    idx = hidden.index
    if idx.numel() == x.shape[-1]:
        # No dimension is zero (the usual case early in training): skip the gather/scatter.
        return _scale(ln(x), hidden.z)
    normed = F.layer_norm(x.index_select(-1, idx), (idx.numel(),), ln.weight[idx], ln.bias[idx], ln.eps)
    out = x.new_zeros(x.shape).index_copy(-1, idx, normed)
    return _scale(out, hidden.z)


class CompactEmbeddings(nn.Module):
    """Word + token-type + position embeddings in the kept hidden width, then LayerNorm.

    ``config.positions_after_padding`` (RoBERTa): positions count non-padding tokens from
    ``pad_token_id + 1`` and padding tokens sit at ``pad_token_id``, as HF RoBERTa numbers them."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        width = config.kept_hidden
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.positions_after_padding = bool(getattr(config, "positions_after_padding", False))
        self.pad_token_id = config.pad_token_id

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        hidden: HiddenScale | None = None,
    ) -> torch.Tensor:
        # Position and token-type ids are built here rather than kept as buffers, so nothing
        # non-persistent has to be re-initialised when transformers loads on the meta device.
        seq_len = input_ids.shape[1]
        if position_ids is None and self.positions_after_padding:
            real = input_ids.ne(self.pad_token_id).long()
            position_ids = torch.cumsum(real, dim=1) * real + self.pad_token_id
        elif position_ids is None:
            position_ids = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        # Same summation order as HF BERT and RoBERTa, so float rounding matches too.
        emb = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        emb = emb + self.position_embeddings(position_ids)
        if hidden is not None:
            emb = _scale(emb, hidden.z)
        return self.dropout(scaled_layer_norm(emb, self.LayerNorm, hidden))


class CompactSelfAttention(nn.Module):
    """Multi-head self-attention with ``num_heads`` heads of ``head_size`` each."""

    def __init__(self, width: int, num_heads: int, head_size: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_size = head_size
        inner = num_heads * head_size
        self.query = nn.Linear(width, inner)
        self.key = nn.Linear(width, inner)
        self.value = nn.Linear(width, inner)
        self.dropout_p = dropout

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor | None, heads: torch.Tensor | None) -> torch.Tensor:
        b, s, _ = x.shape
        if _fusable(self.query, self.key, self.value):
            # One GEMM for Q, K and V: a pruned layer's projections are skinny (a head is 32-64 outputs)
            # and three small GEMMs run far below the CPU's peak; fused, the 0.93-sparse MiniLM student's
            # projections took ~1.3x less time (benchmarks/inference_speedup.py --breakdown). The three
            # Linear modules stay, so checkpoints, slicing and HF conversion are unchanged.
            weight, bias = self._fused_qkv()
            qkv = F.linear(x, weight, bias).view(b, s, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            # A tuner wrapped or hooked a projection (LoRA, hooks): call each module so its parts act.
            q, k, v = (self._heads(m(x), b, s) for m in (self.query, self.key, self.value))
        ctx = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=additive_mask,
            dropout_p=self.dropout_p if self.training else 0.0,
            scale=self.head_size**-0.5,
        )
        if heads is not None:  # per-head scale on the context vectors, before output.dense
            ctx = _scale(ctx, heads.view(1, -1, 1, 1))
        return ctx.transpose(1, 2).reshape(b, s, self.num_heads * self.head_size)

    def _fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Q, K and V weights (and biases) stacked for one GEMM.

        Without autograd the stack is cached and rebuilt only when a projection's tensor changes
        (its storage or in-place version): re-stacking every call cost 13% of a batch-1 forward of
        the 0.9 student (benchmarks/compact_vs_plain.py). With autograd it is rebuilt each call so
        gradients reach the three projections.
        """
        parts = (self.query.weight, self.key.weight, self.value.weight, self.query.bias, self.key.bias,
                 self.value.bias)
        if torch.is_grad_enabled() and any(p.requires_grad for p in parts):
            return torch.cat(parts[:3]), torch.cat(parts[3:])
        stamp = tuple((p.data_ptr(), p._version) for p in parts)
        cached = self.__dict__.get("_qkv_cache")
        if cached is None or cached[0] != stamp:
            with torch.no_grad():
                cached = (stamp, torch.cat(parts[:3]), torch.cat(parts[3:]))
            self.__dict__["_qkv_cache"] = cached  # not a buffer: never saved, moved or counted
        return cached[1], cached[2]

    def _heads(self, t: torch.Tensor, b: int, s: int) -> torch.Tensor:
        return t.view(b, s, self.num_heads, self.head_size).transpose(1, 2)


def _fusable(*modules: nn.Module) -> bool:
    """Plain Linear modules with no hooks: fusing them computes exactly what calling them would."""
    return all(type(m) is nn.Linear and not (m._forward_hooks or m._forward_pre_hooks) for m in modules)


class CompactResidualOutput(nn.Module):
    """Projection back to the hidden width, scales, dropout, residual add and (scaled) LayerNorm.

    HF BERT's ``BertSelfOutput`` and ``BertOutput`` are this same computation.
    """

    def __init__(self, in_dim: int, width: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        h: torch.Tensor,
        residual: torch.Tensor,
        block: torch.Tensor | None = None,
        hidden: HiddenScale | None = None,
    ) -> torch.Tensor:
        out = _scale(self.dense(h), block)  # whole-block scale, bias included
        if hidden is not None:
            out = _scale(out, hidden.z)
        return scaled_layer_norm(self.dropout(out) + residual, self.LayerNorm, hidden)


class CompactAttention(nn.Module):
    def __init__(self, config: Any, num_heads: int) -> None:
        super().__init__()
        width = config.kept_hidden
        self.self = CompactSelfAttention(width, num_heads, config.head_size, config.attention_probs_dropout_prob)
        self.output = CompactResidualOutput(
            num_heads * config.head_size, width, config.layer_norm_eps, config.hidden_dropout_prob
        )

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor | None, scales: LayerScales) -> torch.Tensor:
        ctx = self.self(x, additive_mask, scales.heads)
        return self.output(ctx, x, scales.attention_block, scales.hidden)


class CompactIntermediate(nn.Module):
    def __init__(self, width: int, ffn_dim: int, act: str) -> None:
        super().__init__()
        self.dense = nn.Linear(width, ffn_dim)
        self.intermediate_act_fn = ACT2FN[act]

    def forward(self, x: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
        return _scale(self.intermediate_act_fn(self.dense(x)), units)  # per-unit FFN scale


class CompactLayer(nn.Module):
    """One encoder layer; a sublayer of width 0 is absent and acts as the identity."""

    def __init__(self, config: Any, layer_idx: int) -> None:
        super().__init__()
        heads = config.layer_heads[layer_idx]
        ffn = config.layer_ffn[layer_idx]
        width = config.kept_hidden
        self.attention = CompactAttention(config, heads) if heads > 0 else None
        self.intermediate = CompactIntermediate(width, ffn, config.hidden_act) if ffn > 0 else None
        self.output = (
            CompactResidualOutput(ffn, width, config.layer_norm_eps, config.hidden_dropout_prob)
            if ffn > 0
            else None
        )

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor | None, scales: LayerScales) -> torch.Tensor:
        # A removed sublayer is skipped entirely (no residual LayerNorm): what CoFi's code does when a
        # block gate is 0, and what the shrunk model does when the block is gone.
        if self.attention is not None and scales.attention:
            x = self.attention(x, additive_mask, scales)
        if self.intermediate is not None and self.output is not None and scales.ffn:
            x = self.output(self.intermediate(x, scales.units), x, scales.ffn_block, scales.hidden)
        return x


class CompactPooler(nn.Module):
    """tanh(dense(first token)). Input is the kept hidden width; output keeps the original width,
    because the hidden scale does not act on the pooler output (only its input is pruned)."""

    def __init__(self, width: int, out_width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, out_width)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))
