"""greenprune's compact BERT against a plain PyTorch encoder of exactly the same per-layer sizes.

Run: ``python benchmarks/compact_vs_plain.py`` (MiniLM-sized shapes from issue 21, batch 32 and 1,
2 threads), ``--profile`` adds a per-operator profile (torch.profiler) of both models per shape.

The question is how close the compact model gets to what plain PyTorch reaches *on the same shape*,
so both models get:

* the same sizes: embeddings (word + position + token type, LayerNorm) of the kept hidden width,
  per layer a fused Q/K/V ``Linear``, ``scaled_dot_product_attention``, output projection, residual
  and LayerNorm, FFN up, GELU, down, residual and LayerNorm (a layer with 0 heads or 0 FFN units has
  no such block), then pooler and classifier. Embeddings, pooler and classifier are in *both*:
  a deployed model runs them, and leaving them out of one side only (as the issue's first
  measurement did) charges the compact model for work the reference never does;
* the same weights (copied from the compact model; the logits are checked equal before timing);
* the same batch: real STS-B dev sentence pairs padded to the sequence length, with their
  attention mask (the plain encoder passes it to SDPA as a boolean mask).

The weights are random (the architecture, not the values, sets the speed). Timing alternates the two
models round by round (``_common.time_alternating``); the ratio is taken per round (same load for
both) and its median printed with the inter-quartile range. "compact / plain speed" = plain time /
compact time: 1.0 means the compact model is as fast as plain PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from _common import (
    DEFAULT_DATA,
    Stats,
    load_average,
    load_tokenizer,
    make_batch,
    minilm_path,
    offline,
    paired_ratios,
    start,
    time_alternating,
)

#: the student shapes of issue 21 (heads per layer, FFN units per layer), MiniLM-L6 (6 x 12 heads of 32, FFN 1536)
SHAPES: dict[str, tuple[list[int], list[int]]] = {
    "0.6-demo": ([12] * 6, [184, 200, 184, 120, 120, 112]),
    "0.6": ([4, 7, 6, 10, 5, 3], [623, 884, 806, 530, 374, 69]),
    "0.9": ([1, 1, 0, 0, 0, 0], [187, 377, 412, 165, 105, 6]),
}
TARGET = 0.95  # compact speed >= 95% of the plain encoder's at the largest batch, shape 0.9


def compact_student(heads: list[int], ffn: list[int], num_labels: int = 2) -> Any:
    """greenprune's compact BERT with MiniLM's config and the given per-layer sizes, random weights."""
    import torch
    from transformers import AutoConfig

    from greenprune.structure.compact import compact_classes

    torch.manual_seed(0)
    bert = AutoConfig.from_pretrained(minilm_path(), num_labels=num_labels)
    classes = compact_classes("bert")
    return classes.sequence(classes.config.from_hf_config(bert, layer_heads=heads, layer_ffn=ffn)).eval()


def plain_encoder(compact: Any) -> Any:
    """A plain PyTorch model of the compact model's sizes, holding a copy of its weights."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    cfg = compact.config
    width, d, eps = cfg.kept_hidden, cfg.head_size, cfg.layer_norm_eps

    class Layer(nn.Module):
        def __init__(self, heads: int, ffn: int) -> None:
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(width, 3 * heads * d) if heads else None
            self.attn_out = nn.Linear(heads * d, width) if heads else None
            self.ln1 = nn.LayerNorm(width, eps=eps)
            self.up = nn.Linear(width, ffn) if ffn else None
            self.down = nn.Linear(ffn, width) if ffn else None
            self.ln2 = nn.LayerNorm(width, eps=eps)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, s, _ = x.shape
            if self.qkv is not None and self.attn_out is not None:
                q, k, v = self.qkv(x).view(b, s, 3, self.heads, d).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                x = self.ln1(self.attn_out(ctx.transpose(1, 2).reshape(b, s, -1)) + x)
            if self.up is not None and self.down is not None:
                x = self.ln2(self.down(F.gelu(self.up(x))) + x)
            return x

    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(cfg.vocab_size, width)
            self.pos = nn.Embedding(cfg.max_position_embeddings, width)
            self.types = nn.Embedding(cfg.type_vocab_size, width)
            self.ln = nn.LayerNorm(width, eps=eps)
            self.layers = nn.ModuleList(Layer(h, f) for h, f in zip(cfg.layer_heads, cfg.layer_ffn, strict=True))
            self.pooler = nn.Linear(width, cfg.hidden_size)
            self.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            x = self.ln(self.word(input_ids) + self.types(token_type_ids) + self.pos(pos))
            mask = attention_mask[:, None, None, :].bool()
            for layer in self.layers:
                x = layer(x, mask)
            return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    plain = Plain().eval()
    src = compact.bert
    with torch.no_grad():
        plain.word.weight.copy_(src.embeddings.word_embeddings.weight)
        plain.pos.weight.copy_(src.embeddings.position_embeddings.weight)
        plain.types.weight.copy_(src.embeddings.token_type_embeddings.weight)
        plain.ln.load_state_dict(src.embeddings.LayerNorm.state_dict())
        for mine, theirs in zip(plain.layers, src.encoder.layer, strict=True):
            if theirs.attention is not None:
                sa = theirs.attention.self
                mine.qkv.weight.copy_(torch.cat([sa.query.weight, sa.key.weight, sa.value.weight]))
                mine.qkv.bias.copy_(torch.cat([sa.query.bias, sa.key.bias, sa.value.bias]))
                mine.attn_out.load_state_dict(theirs.attention.output.dense.state_dict())
                mine.ln1.load_state_dict(theirs.attention.output.LayerNorm.state_dict())
            if theirs.intermediate is not None:
                mine.up.load_state_dict(theirs.intermediate.dense.state_dict())
                mine.down.load_state_dict(theirs.output.dense.state_dict())
                mine.ln2.load_state_dict(theirs.output.LayerNorm.state_dict())
        plain.pooler.load_state_dict(src.pooler.dense.state_dict())
        plain.classifier.load_state_dict(compact.classifier.state_dict())
    return plain


def _profile(fns: dict[str, Any], rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    for name, fn in fns.items():
        for _ in range(2):
            fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                fn()
        print(f"\n## profile: {name} (5 forwards)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def run_shape(name: str, heads: list[int], ffn: list[int], args: argparse.Namespace, tokenizer: Any) -> float | None:
    import torch

    compact = compact_student(heads, ffn)
    plain = plain_encoder(compact)
    print(f"\n## shape {name}: heads/layer {heads}, FFN/layer {ffn}, hidden {compact.config.kept_hidden}")
    ratio_at_largest = None
    for bs in args.batch:
        batch, _ = make_batch(bs, args.seq, DEFAULT_DATA, tokenizer, compact.config.vocab_size)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.inference_mode():
            diff = (compact(**inputs).logits - plain(**inputs)).abs().max().item()
        if diff > 1e-4:
            raise SystemExit(f"shape {name}: the two models disagree (max |logit diff| {diff:.2e}); fix the reference")

        def run(model: Any, inputs: dict[str, Any] = inputs) -> Any:
            def call() -> None:
                with torch.inference_mode():
                    model(**inputs)
            return call

        fns = {"plain": run(plain), "compact": run(compact)}
        if args.profile:
            _profile(fns, args.profile_rows)
        times = time_alternating(fns, args.warmup, args.repeats)
        speed = paired_ratios(times["plain"], times["compact"])  # plain time / compact time, per round
        p, c = Stats.of(times["plain"]), Stats.of(times["compact"])
        print(f"batch {bs:3d} x {args.seq}: plain {p.ms()} ms | compact {c.ms()} ms | compact/plain speed "
              f"{speed.median:.3f} [{speed.q1:.3f}-{speed.q3:.3f}] over {speed.n} rounds | max |logit diff| "
              f"{diff:.1e} | load {load_average()}")
        if bs == max(args.batch):
            ratio_at_largest = speed.median
    return ratio_at_largest


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES), help="shapes to run (default: all)")
    ap.add_argument("--batch", type=int, action="append", help="batch sizes (default: 32 and 1)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=40, help="alternating rounds per batch size")
    ap.add_argument("--profile", action="store_true", help="print a per-operator profile of both models")
    ap.add_argument("--profile-rows", type=int, default=18)
    args = ap.parse_args(argv)
    args.batch = args.batch or [32, 1]
    offline()
    start("compact BERT vs a plain PyTorch encoder of the same shape", args.threads)
    tokenizer = load_tokenizer()
    results = {name: run_shape(name, *SHAPES[name], args, tokenizer) for name in (args.shape or list(SHAPES))}
    if "0.9" in results and results["0.9"] is not None:
        ok = results["0.9"] >= TARGET
        print(f"\n0.9 at batch {max(args.batch)}: compact at {results['0.9']:.3f} of the plain encoder's speed "
              f"(target >= {TARGET}): {'MET' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
