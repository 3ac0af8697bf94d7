"""Physical pruning: turn a masked compact encoder into a smaller one that computes the same function.

Given deterministic CoFi masks (Xia, Zhong, Chen, ACL 2022), every zero gate removes its structure
(heads: Q/K/V rows and output-projection columns; FFN units: up rows and down columns; hidden dims:
embedding columns, every projection's rows/columns along the hidden width, LayerNorm entries and the
pooler's or the QA head's input columns; whole sublayers when their block gate or all of their units
are 0). Non-zero gate values, which may lie in (0, 1), are folded into the weights, mirroring where
the masked forward (the core's compact ``layers.py``) multiplies them:

* ``head_z`` scales a head's context = softmax(QK^T) V, which is linear in V: fold into V's rows;
* ``mha_z`` and ``hidden_z`` scale the attention output projection's output: fold into its rows/bias;
* ``int_z`` scales the FFN activations: fold into the down projection's columns;
* ``ffn_z`` and ``hidden_z`` scale the FFN output: fold into the down projection's rows/bias;
* ``hidden_z`` before the embedding LayerNorm: fold into the three embedding tables' columns;
* ``hidden_z`` after every LayerNorm: fold into that LayerNorm's weight and bias.

LayerNorm statistics in the masked forward only use kept dims, which is what the compact LayerNorm over
the kept width computes, so outputs agree up to float rounding.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from greenprune.api import CompactEncoderForSequenceClassification, CompactModel, SurgeryEvent, kept_index, layer_scales
from greenprune_builtins.cofi.masks import CofiMasks


def _col(t: Tensor) -> Tensor:
    return t.unsqueeze(1)


def _gate(z: Tensor | None, size: int, like: Tensor) -> Tensor:
    return torch.ones(size, dtype=like.dtype, device=like.device) if z is None else z.to(like)


class _StateBuilder:
    """Collects the sliced, gate-folded tensors of the compact model under their HF-style names."""

    def __init__(self, model: CompactModel, hidx: Tensor, hval: Tensor) -> None:
        self.model = model
        self.out: dict[str, Tensor] = {}
        self.hidx, self.hval = hidx, hval
        self.events: list[SurgeryEvent] = []  # what stayed, per changed module, for the tuners

    def removed(self, *modules: str) -> None:
        self.events.extend(SurgeryEvent(m, removed=True) for m in modules)

    def get(self, name: str) -> Tensor:
        # Through the module, not the parameter's name: a projection a tuner wrapped (peft's LoRA keeps
        # the weight at ``query.base_layer.weight``) still answers ``query.weight``.
        prefix, _, part = name.rpartition(".")
        return getattr(self.model.get_submodule(prefix), part).detach()

    def layer_norm(self, prefix: str) -> None:
        # hidden_z multiplies the LayerNorm output in the masked forward: fold into weight and bias.
        for part in ("weight", "bias"):
            self.out[f"{prefix}.{part}"] = self.get(f"{prefix}.{part}")[self.hidx] * self.hval
        self.events.append(SurgeryEvent(prefix, kept_out=self.hidx, out_scale=self.hval))

    def linear(
        self,
        prefix: str,
        rows: Tensor | None = None,
        cols: Tensor | None = None,
        row_scale: Tensor | None = None,
        col_scale: Tensor | None = None,
    ) -> None:
        w, b = self.get(f"{prefix}.weight"), self.get(f"{prefix}.bias")
        if rows is not None:
            w, b = w[rows], b[rows]
        if cols is not None:
            w = w[:, cols]
        if row_scale is not None:
            w, b = w * _col(row_scale), b * row_scale
        if col_scale is not None:
            w = w * col_scale
        self.out[f"{prefix}.weight"], self.out[f"{prefix}.bias"] = w, b
        if any(t is not None for t in (rows, cols, row_scale, col_scale)):
            self.events.append(SurgeryEvent(prefix, kept_in=cols, kept_out=rows, in_scale=col_scale,
                                            out_scale=row_scale))


@torch.no_grad()
def to_compact(model: CompactModel, masks: CofiMasks, events: list[SurgeryEvent] | None = None) -> CompactModel:
    """A new, physically smaller model equal (in eval mode) to ``model`` run with ``masks``.

    ``masks`` must be deterministic (zeros = removed; kept values in (0, 1] are folded in). The input
    model is left untouched; the result has the same device, dtype and train/eval mode. ``events``,
    when given, receives one :class:`SurgeryEvent` per changed module (for the tuners).
    """
    cfg = model.config
    gates = layer_scales(cfg, masks.scales())  # validates the mask shapes against the architecture
    base = model.base_model_prefix  # the backbone's name (the family's: bert, roberta)
    ref = model.get_input_embeddings().weight  # device and dtype of the model (any head)
    hidx = kept_index(masks.hidden_z, cfg.kept_hidden).to(ref.device)
    if hidx.numel() == 0:
        raise ValueError("hidden_z removes every hidden dimension")
    hval = _gate(masks.hidden_z, cfg.kept_hidden, ref)[hidx]
    sb = _StateBuilder(model, hidx, hval)

    for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        name = f"{base}.embeddings.{table}.weight"
        sb.out[name] = sb.get(name)[:, hidx] * hval  # hidden_z multiplies the summed embeddings
        sb.events.append(SurgeryEvent(name.removesuffix(".weight"), kept_out=hidx, out_scale=hval))
    sb.layer_norm(f"{base}.embeddings.LayerNorm")

    heads_left: list[int] = []
    ffn_left: list[int] = []
    d = cfg.head_size
    for i, (layer, g) in enumerate(zip(model.base_model.encoder.layer, gates, strict=True)):
        p = f"{base}.encoder.layer.{i}"
        if layer.attention is not None and g.attention:
            n_heads = layer.attention.self.num_heads
            hz = _gate(g.heads, n_heads, ref)
            kept = kept_index(hz, n_heads).to(ref.device)
            rows = (_col(kept) * d + torch.arange(d, device=ref.device)).flatten()
            v_scale = hz[kept].repeat_interleave(d)
            out_scale = _gate(g.attention_block, 1, ref) * hval
            sb.linear(f"{p}.attention.self.query", rows=rows, cols=hidx)
            sb.linear(f"{p}.attention.self.key", rows=rows, cols=hidx)
            sb.linear(f"{p}.attention.self.value", rows=rows, cols=hidx, row_scale=v_scale)
            sb.linear(f"{p}.attention.output.dense", rows=hidx, cols=rows, row_scale=out_scale)
            sb.layer_norm(f"{p}.attention.output.LayerNorm")
            heads_left.append(int(kept.numel()))
        else:
            heads_left.append(0)
            if layer.attention is not None:
                parts = ("self.query", "self.key", "self.value", "self", "output.dense", "output.LayerNorm", "output")
                sb.removed(f"{p}.attention", *(f"{p}.attention.{x}" for x in parts))
        if layer.intermediate is not None and g.ffn:
            width = layer.intermediate.dense.out_features
            iz = _gate(g.units, width, ref)
            kept = kept_index(iz, width).to(ref.device)
            sb.linear(f"{p}.intermediate.dense", rows=kept, cols=hidx)
            sb.linear(
                f"{p}.output.dense",
                rows=hidx,
                cols=kept,
                row_scale=_gate(g.ffn_block, 1, ref) * hval,
                col_scale=iz[kept],
            )
            sb.layer_norm(f"{p}.output.LayerNorm")
            ffn_left.append(int(kept.numel()))
        else:
            ffn_left.append(0)
            if layer.intermediate is not None:
                sb.removed(*(f"{p}.{m}" for m in ("intermediate.dense", "intermediate", "output.dense",
                                                  "output.LayerNorm", "output")))

    if model.base_model.pooler is not None:
        sb.linear(f"{base}.pooler.dense", cols=hidx)  # only its input lives in the hidden stream
    if isinstance(model, CompactEncoderForSequenceClassification):
        sb.linear("classifier")  # reads the pooler's output, which keeps the full width
    else:
        # The QA head reads every token's final hidden state, whose kept dims the last LayerNorm
        # already carries (gate folded in), so only its input columns go.
        sb.linear("qa_outputs", cols=hidx)

    new_cfg = copy.deepcopy(cfg)
    new_cfg.layer_heads, new_cfg.layer_ffn, new_cfg.kept_hidden = heads_left, ffn_left, int(hidx.numel())
    with torch.device("meta"):
        new = type(model)(new_cfg)
    new.load_state_dict({k: v.clone().contiguous() for k, v in sb.out.items()}, strict=True, assign=True)
    if events is not None:
        events.extend(sb.events)
    return new.train(model.training)

