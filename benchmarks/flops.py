"""Forward FLOPs of a BERT architecture from its per-layer sizes (dense, pruned or layer-dropped):
the *ideal* speed-up that ``inference_speedup.py`` compares measured latency with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerShape:
    """What one encoder layer computes with: ``heads`` x ``head_size`` attention width (0 heads =
    attention block removed), ``ffn`` units (0 = FFN block removed), residual width ``hidden``."""

    heads: int
    head_size: int
    ffn: int
    hidden: int


@dataclass(frozen=True)
class FlopCount:
    """Forward FLOPs (2 per multiply-accumulate) for one batch, by part."""

    projections: int  # Q, K, V and attention output projections
    attention: int  # scores Q K^T and context softmax(.) V: grow with seq^2
    ffn: int  # FFN up and down projections
    head: int  # pooler (first token) and classifier

    @property
    def total(self) -> int:
        return self.projections + self.attention + self.ffn + self.head


def layer_shapes(config_or_model: Any) -> tuple[list[LayerShape], int, int]:
    """Per-layer shapes, pooler output width and number of labels of a HF ``BertConfig``, a
    compact encoder config, or a model of either kind (a model is read from its modules, via
    :func:`greenprune.structure.sizes.per_layer_sizes`, so it counts what is really there)."""
    from torch import nn

    if isinstance(config_or_model, nn.Module):
        from greenprune.structure.sizes import per_layer_sizes

        model = config_or_model
        cfg = model.config
        shapes = []
        for s in per_layer_sizes(model):
            heads = s["heads"] or 0
            shapes.append(LayerShape(heads, (s["q"] // heads) if heads else 0, s["ffn"] or 0, s["hidden"]))
        pooler = getattr(model.base_model, "pooler", None)
        out = pooler.dense.out_features if pooler is not None else cfg.hidden_size
        return shapes, out, int(cfg.num_labels)
    cfg = config_or_model
    n = cfg.num_hidden_layers
    heads = getattr(cfg, "layer_heads", None) or [cfg.num_attention_heads] * n
    ffn = getattr(cfg, "layer_ffn", None) or [cfg.intermediate_size] * n
    head_size = getattr(cfg, "head_size", None) or cfg.hidden_size // cfg.num_attention_heads
    hidden = getattr(cfg, "kept_hidden", None) or cfg.hidden_size
    shapes = [LayerShape(h, head_size if h else 0, f, hidden) for h, f in zip(heads, ffn, strict=True)]
    return shapes, cfg.hidden_size, int(cfg.num_labels)


def forward_flops(config_or_model: Any, seq_len: int, batch_size: int = 1) -> FlopCount:
    """Forward FLOPs of a BERT classifier on ``batch_size`` sequences of ``seq_len`` tokens.

    Per layer, with s = seq_len, D = residual width, A = heads x head_size, F = FFN units:

    * projections: Q, K, V (3 x 2 s D A) and the output projection (2 s A D) = 8 s D A;
    * attention: scores (2 s^2 A, every head's s x d by d x s) and context (2 s^2 A) = 4 s^2 A;
    * FFN: up (2 s D F) and down (2 s F D) = 4 s D F;

    a removed block (0 heads or 0 units) contributes nothing. Once per sequence: pooler
    (2 D P on the first token, P = pooler width) and classifier (2 P labels). Embedding lookups,
    biases, softmax, GELU, LayerNorm and residual adds are O(s D) element-wise work next to the
    O(s D^2) matmuls and are left out (under 1% for MiniLM at s = 128), as usual for FLOP counts.
    """
    shapes, pooler_out, labels = layer_shapes(config_or_model)
    s = seq_len
    proj = att = ffn = 0
    for ls in shapes:
        width = ls.heads * ls.head_size
        proj += 8 * s * ls.hidden * width
        att += 4 * s * s * width
        ffn += 4 * s * ls.hidden * ls.ffn
    residual = shapes[0].hidden if shapes else pooler_out
    head = 2 * residual * pooler_out + 2 * pooler_out * labels
    return FlopCount(proj * batch_size, att * batch_size, ffn * batch_size, head * batch_size)
