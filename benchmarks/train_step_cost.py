"""Cost of one training step (forward + backward + optimizer) of each greenprune method, side by side.

Run: ``python benchmarks/train_step_cost.py`` (MiniLM, batch 32 x seq 128), ``--quick`` for a tiny
random BERT in seconds, ``--help`` for every option.

Steps compared, each on its own copy of the model with its own optimizer(s), all on the same fixed
batch (real STS-B dev sentence pairs padded to the length, binary labels ``score >= 2.5``):

1. ``FT``: plain full fine-tuning (task loss, AdamW over every weight, built as every greenprune phase
   builds it: :func:`greenprune.training.make_optimizer`, the fused kernel by default); ``FT, loop
   AdamW``: the same with PyTorch's default per-tensor AdamW (``train.fused_optimizer=false``), to
   show what the fused update saves;
2. ``FT + teacher fwd``: the same plus a no-grad teacher forward with hidden states, i.e. what any
   distillation has to pay for its targets; the fair baseline for (3) and (5);
3. ``CoFi``: the real CoFi loss (:func:`greenprune_builtins.cofi.pruning.make_loss_fn` with default
   :class:`~greenprune_builtins.cofi.CofiOptions`): sampled hard-concrete masks on all five gate
   families, masked student forward with hidden states, teacher forward, prediction + dynamic layer
   distillation, Lagrangian sparsity term; AdamW over weights + layer projection, and the mask and
   lambda optimizers, exactly as :func:`greenprune_builtins.cofi.pruning.prune` sets them up;
4. ``adapter``: Houlsby adapters inserted by the real ``AdapterTuner.prepare`` (backbone frozen;
   adapters, LayerNorms and head train);
5. ``distill``: the layer-dropped student (default 2 of 6 layers) with the real distill loss
   (KD + hidden-state MSE) and its teacher forward.

The step body mirrors :func:`greenprune.training.train`'s inner loop (loss_fn, backward, optimizer
step, extra optimizers' step and zero_grad, zero_grad); the learning-rate scheduler's step is left
out (a few scalar updates). Rounds alternate the methods in rotating order; medians and per-round
ratios are printed.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import (
    DEFAULT_DATA,
    Stats,
    load_average,
    load_teacher,
    load_tokenizer,
    make_batch,
    offline,
    paired_ratios,
    start,
    time_alternating,
)

TARGET_COFI = 1.5  # issue target: CoFi step <= 1.5 x (FT step + teacher forward)

FT, FT_LOOP, FT_T, COFI, ADAPTER, DISTILL = ("FT", "FT, loop AdamW", "FT + teacher fwd", "CoFi", "adapter",
                                             "distill")


@dataclass
class Case:
    name: str
    step: Callable[[], None]
    note: str


def train_step(model: Any, loss_fn: Any, batch: dict[str, Any], optimizer: Any, extra: Sequence[Any] = (),
               before: Callable[[], None] | None = None) -> Callable[[], None]:
    """One step exactly as ``greenprune.training.train`` runs it (minus the scheduler)."""

    def step() -> None:
        if before is not None:
            before()
        loss, _ = loss_fn(model, batch)
        loss.backward()
        optimizer.step()
        for o in extra:
            o.step()
            o.zero_grad()
        optimizer.zero_grad()

    return step


def _trainable(model: Any) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def build_cases(teacher: Any, batch: dict[str, Any], args: argparse.Namespace) -> list[Case]:
    import torch
    from greenprune_builtins.adapter import AdapterOptions, AdapterTuner
    from greenprune_builtins.cofi import CofiOptions
    from greenprune_builtins.cofi.expected import PrunableShape
    from greenprune_builtins.cofi.gates import CofiMaskModule
    from greenprune_builtins.cofi.lagrangian import LagrangianController
    from greenprune_builtins.cofi.pruning import dense_student, make_loss_fn
    from greenprune_builtins.distill import DistillOptions
    from greenprune_builtins.distill_student import layer_map, make_student, select_layers
    from greenprune_builtins.distill_student import make_loss_fn as distill_loss_fn

    from greenprune.config import TrainConfig
    from greenprune.training import default_loss, make_optimizer, trainable_groups

    cfg = TrainConfig()  # greenprune's defaults: lr 5e-5, weight decay 0.01
    teacher.eval()  # a fine-tuned teacher only ever runs in eval mode under no_grad
    cases: list[Case] = []

    def adamw(model: Any, lr: float = cfg.learning_rate, extra_groups: Sequence[dict[str, Any]] = (),
              fused: bool = cfg.fused_optimizer) -> Any:
        return make_optimizer([*trainable_groups(model, cfg.weight_decay), *extra_groups],
                              cfg.model_copy(update={"learning_rate": lr, "fused_optimizer": fused}))

    # (1) plain full fine-tuning, with the optimizer greenprune uses and with PyTorch's default one
    ft = copy.deepcopy(teacher).train()
    cases.append(Case(FT, train_step(ft, default_loss, batch, adamw(ft)),
                      f"all {_trainable(ft)[0]:,} weights train; AdamW fused={cfg.fused_optimizer}"))
    ft_loop = copy.deepcopy(teacher).train()
    cases.append(Case(FT_LOOP, train_step(ft_loop, default_loss, batch, adamw(ft_loop, fused=False)),
                      "(1) with PyTorch's default per-tensor AdamW (train.fused_optimizer=false)"))

    # (2) the same plus the teacher forward a distillation needs
    ft2 = copy.deepcopy(teacher).train()

    def ft_with_teacher(model: Any, b: dict[str, Any]) -> tuple[Any, dict[str, float]]:
        with torch.no_grad():
            teacher(**{k: v for k, v in b.items() if k != "labels"}, output_hidden_states=True)
        return default_loss(model, b)

    cases.append(Case(FT_T, train_step(ft2, ft_with_teacher, batch, adamw(ft2)),
                      "(1) + no-grad teacher forward with hidden states"))

    # (3) CoFi, set up as greenprune_builtins.cofi.pruning.prune does
    opts = CofiOptions()
    student = dense_student(teacher, None).train()
    masks = CofiMaskModule.from_config(student.config, kinds=tuple(opts.prune), init=opts.mask_init)
    shape = PrunableShape.from_config(student.config)
    hidden = student.config.hidden_size
    proj = torch.nn.Linear(hidden, hidden)
    with torch.no_grad():
        proj.weight.copy_(torch.eye(hidden))
        proj.bias.zero_()
    # Warm-up far longer than the timed steps: the target stays low and no gate closes for good,
    # so every timed step does the work of an early pruning step (the worst case: nothing removed).
    controller = LagrangianController(args.sparsity, warmup_steps=10_000, start_step=opts.prepruning_steps,
                                      lr=opts.lambda_lr)
    state = {"step": opts.prepruning_steps}
    loss_fn = make_loss_fn(opts, masks, shape, controller, teacher, proj, state)
    optimizer = adamw(student, extra_groups=[{"params": list(proj.parameters()), "weight_decay": 0.0}])
    mask_opt = torch.optim.AdamW(masks.parameters(), lr=opts.mask_lr, weight_decay=0.0)

    def advance() -> None:
        state["step"] += 1

    cases.append(Case(COFI, train_step(student, loss_fn, batch, optimizer, [mask_opt, controller.optimizer],
                                       before=advance),
                      f"gates {'/'.join(opts.prune)}, distill={opts.distill} (pred + layer), Lagrangian, "
                      f"3 optimizers"))

    # (4) Houlsby adapters on a frozen backbone, via the real tuner
    tuner = AdapterTuner(AdapterOptions())
    ad = copy.deepcopy(teacher)
    tuner.prepare(SimpleNamespace(model=ad))
    ad.train()
    trainable, total = _trainable(ad)
    cases.append(Case(ADAPTER, train_step(ad, default_loss, batch, adamw(ad, lr=tuner.options.learning_rate)),
                      f"{trainable:,} of {total:,} weights train (adapters, LayerNorms, head)"))

    # (5) layer-dropping distillation
    n = teacher.config.num_hidden_layers
    keep = select_layers(n, args.distill_layers, "uniform")
    dopts = DistillOptions()
    ds = make_student(teacher, keep).train()
    dloss = distill_loss_fn(teacher, layer_map(keep), temperature=dopts.temperature, alpha_kd=dopts.alpha_kd,
                            alpha_hidden=dopts.alpha_hidden, alpha_hard=dopts.alpha_hard)
    cases.append(Case(DISTILL, train_step(ds, dloss, batch, adamw(ds)),
                      f"{n}->{len(keep)} layers (keeps {keep}), KD + hidden MSE, teacher forward"))
    return cases


RATIOS = [
    (COFI, FT_T, f"CoFi / (FT + teacher fwd)   [issue target <= {TARGET_COFI}]"),
    (COFI, FT, "CoFi / FT"),
    (ADAPTER, FT, "adapter / FT"),
    (DISTILL, FT_T, "distill / (FT + teacher fwd)"),
    (DISTILL, FT, "distill / FT"),
    (FT_T, FT, "(FT + teacher fwd) / FT"),
    (FT_LOOP, FT, "FT with loop AdamW / FT (fused)"),
]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--teacher", metavar="PATH", help="dense BERT (default: embedded MiniLM)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--warmup", type=int, help="untimed steps per method (default 1)")
    p.add_argument("--repeats", type=int, help="timed rounds, every method once per round (default 5; quick 2)")
    p.add_argument("--sparsity", type=float, default=0.6, help="CoFi target (does not change the step's cost)")
    p.add_argument("--distill-layers", type=int, default=2, help="layers of the distill student")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: the available cores)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="STS-B-style TSV for real input sentences")
    p.add_argument("--quick", action="store_true", help="tiny random BERT, batch 4, seq 16, 2 repeats (smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.seq_len = min(args.batch_size, 4), min(args.seq_len, 16)
    args.warmup = 1 if args.warmup is None else args.warmup
    args.repeats = args.repeats or (2 if args.quick else 5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    offline()
    import torch

    start("training-step cost, side by side", args.threads)
    teacher, label = load_teacher(args.teacher, args.quick)
    batch, source = make_batch(args.batch_size, args.seq_len, args.data, load_tokenizer(args.teacher),
                               teacher.config.vocab_size)
    torch.manual_seed(0)  # mask samples, dropout and adapter init: the same run to run
    cases = build_cases(teacher, batch, args)
    print(f"model: {label}; batch {args.batch_size} x seq {args.seq_len}\ninput: {source}\n\n## steps")
    for c in cases:
        print(f"- {c.name}: {c.note}")
    times = time_alternating({c.name: c.step for c in cases}, args.warmup, args.repeats)
    print(f"\n## seconds per step: {args.repeats} alternating rounds after {args.warmup} warm-up "
          f"(load average now {load_average()})")
    print(f"{'step':20s} {'median':>9s} {'IQR':>17s} {'min':>8s} {'max':>8s}")
    for c in cases:
        st = Stats.of(times[c.name])
        print(f"{c.name:20s} {st.median:9.3f} {f'{st.q1:.3f}-{st.q3:.3f}':>17s} {st.low:8.3f} {st.high:8.3f}")
    print(f"\n## ratios (of medians; per-round ratio median [IQR] in brackets)\n{'':36s} {'ratio':>6s}")
    verdict = ""
    for num, den, label_ in RATIOS:
        r = Stats.of(times[num]).median / Stats.of(times[den]).median
        pr = paired_ratios(times[num], times[den])
        print(f"{label_:44s} {r:6.2f}   per-round {pr.median:.2f} [{pr.q1:.2f}-{pr.q3:.2f}]")
        if num == COFI and den == FT_T:
            verdict = f"CoFi step = {r:.2f} x (FT + teacher forward): target <= {TARGET_COFI}: " + (
                "MET" if r <= TARGET_COFI else "MISSED")
    print(f"\n## target\n- {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
