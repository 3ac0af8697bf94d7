"""Speed-up and size of the int8 student (the ``quantize`` compressor) over the same fp32 student.

Run: ``python benchmarks/quantize_speedup.py`` (MiniLM and a CoFi-shaped student at sparsity 0.6,
each against its own int8 copy), ``--model PATH`` for saved fp32 students (e.g. a ``greenprune bench``
CoFi student), ``--quick`` for a tiny random BERT in seconds.

Each fp32 / int8 pair gets the same fixed batch, the same warm-up, and both models alternate round by
round in one process (:func:`_common.time_alternating`), at batch 32 and batch 1. Printed: medians
with inter-quartile ranges, the speed-up (fp32 median / int8 median) and the per-round ratio, bytes
on disk of both (safetensors, as ``greenprune`` saves them) and the largest logit difference on the
batch. The int8 copy is made exactly as the plugin makes it (dynamic int8 Linears, per-channel scales;
int8 word embeddings); the CoFi-shaped students are synthetic structures (not trained), which is all
a speed measurement needs.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_DATA,
    Stats,
    load_saved_student,
    load_teacher,
    load_tokenizer,
    make_batch,
    offline,
    paired_ratios,
    start,
)
from _common import time_alternating as alternate
from inference_speedup import SYNTHETIC, synthetic_cofi_student


def int8_copy(model: Any) -> Any:
    from greenprune_builtins.int8.modules import quantize_embeddings, quantize_linears

    q = copy.deepcopy(model).eval()
    word = q.get_input_embeddings()
    quantize_embeddings(q, [n for n, m in q.named_modules() if m is word])
    quantize_linears(q)
    return q


def disk_bytes(model: Any) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        return sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))


def students(args: argparse.Namespace) -> list[tuple[str, Any]]:
    if args.model:
        return [(Path(p).name, load_saved_student(p)) for p in args.model]
    teacher, label = load_teacher(None, args.quick)
    out = [(f"dense {label}", teacher)]
    for sp in args.sparsity:
        model, info = synthetic_cofi_student(teacher, sp)
        out.append((f"cofi-shaped @ {sp:g} ({SYNTHETIC}; sparsity {info['sparsity']:.4f})", model.eval()))
    return out


def compare(name: str, fp32: Any, args: argparse.Namespace, tokenizer: Any) -> None:
    import torch

    int8 = int8_copy(fp32)
    b32, b8 = disk_bytes(fp32), disk_bytes(int8)
    print(f"\n## {name}\nbytes on disk: fp32 {b32:,}, int8 {b8:,} ({b8 / b32:.3f}x)")
    for bs in args.batch_size:
        batch, source = make_batch(bs, args.seq_len, args.data, tokenizer, fp32.config.vocab_size)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            diff = float((fp32(**inputs).logits - int8(**inputs).logits).abs().max())

        def forward(model: Any, inputs: dict[str, Any] = inputs) -> Any:
            def call() -> None:
                with torch.inference_mode():
                    model(**inputs)

            return call

        repeats = args.repeats if bs >= 8 else 3 * args.repeats
        times = alternate({"fp32": forward(fp32), "int8": forward(int8)}, args.warmup, repeats)
        f, q = Stats.of(times["fp32"]), Stats.of(times["int8"])
        ratio = paired_ratios(times["fp32"], times["int8"])
        print(f"batch {bs:>2} x {args.seq_len} tokens, {repeats} alternating rounds: fp32 {f.ms()} ms, "
              f"int8 {q.ms()} ms -> speed-up {f.median / q.median:.2f}x (per-round {ratio.median:.2f} "
              f"[{ratio.q1:.2f}-{ratio.q3:.2f}]); max |logit diff| {diff:.2e}")
    print(f"input: {source}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", metavar="PATH", help="saved fp32 student(s) (repeatable)")
    p.add_argument("--sparsity", type=float, action="append", help="CoFi-shaped students (default 0.6)")
    p.add_argument("--batch-size", type=int, action="append", help="repeatable (default 32 and 1)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, help="rounds at batch >= 8 (default 10); smaller batches get 3x")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: the available cores)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="STS-B-style TSV for real input sentences")
    p.add_argument("--quick", action="store_true", help="tiny random BERT, batch 4 and 1, seq 16 (smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size = args.batch_size or [4, 1]
        args.seq_len = min(args.seq_len, 16)
    args.batch_size = args.batch_size or [32, 1]
    args.sparsity = args.sparsity or [0.6]
    args.repeats = args.repeats or (2 if args.quick else 10)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    offline()
    start("int8 (quantize) speed-up vs the fp32 student", args.threads)
    tokenizer = load_tokenizer()
    for name, model in students(args):
        compare(name, model, args, tokenizer)
    print("\nspeed-up = fp32 median / int8 median; per-round = the fp32/int8 ratio within each round (median "
          "[IQR]). Dynamic int8 quantizes activations per batch at run time (fbgemm/x86, CPU only).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
