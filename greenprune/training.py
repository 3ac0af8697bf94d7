"""The one training loop every phase uses (teacher fine-tune, tuners, compressors).

Built on ``accelerate`` so the same code runs on CPU, one GPU, or several GPUs/nodes under
``accelerate launch`` / ``torchrun``. ``train.batch_size`` is the *global* batch: with N processes
each takes 1/N of every batch (accelerate's ``split_batches``), so epochs, steps and the learning
rate schedule mean what they mean in one process, and a run's results do not depend on how many
processes computed them. Compressors customise it through ``loss_fn`` (e.g. distillation and the
Lagrangian sparsity term), extra optimizers (mask and lambda parameters with their own learning
rates) and ``on_step`` (schedules such as the sparsity-target warm-up). Not ``Trainer``: CoFi
needs two optimizers and per-step control that Trainer would have to be bent around.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenprune.config import TrainConfig
from greenprune.progress import Progress

#: ``loss_fn(model, batch) -> (loss, parts)``; parts are logged floats (loss components, ...)
LossFn = Callable[[Any, dict[str, Any]], tuple[Any, dict[str, float]]]


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite: training stopped there (the run is recorded as failed)."""


@dataclass
class TrainResult:
    steps: int
    epochs: float
    wall_s: float
    examples: int
    trace: list[dict[str, float]] = field(default_factory=list)
    #: processes, global and per-process batch, mixed precision, and a digest of every trained
    #: tensor per process (all equal: the processes ended on identical weights)
    layout: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "epochs": self.epochs, "train_wall_s": self.wall_s,
                "train_examples": self.examples,
                "s_per_epoch": self.wall_s / self.epochs if self.epochs else 0.0, **self.layout}


def default_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    out = model(**batch)
    return out.loss, {"loss": float(out.loss.detach())}


def trainable_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Biases and LayerNorm weights are not decayed (the usual BERT recipe).
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [g for g in ({"params": decay, "weight_decay": weight_decay},
                        {"params": no_decay, "weight_decay": 0.0}) if g["params"]]


def make_optimizer(groups: list[dict[str, Any]], cfg: TrainConfig) -> Any:
    """AdamW over ``groups`` as every training phase builds it.

    The fused kernel updates all weights in one pass; PyTorch's default on CPU is a Python loop
    over tensors, which for MiniLM's 22.7M weights cost more than the forward and backward of a
    demo-sized batch (benchmarks/train_step_cost.py prints both side by side)."""
    import torch

    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True if cfg.fused_optimizer else None)


def train(
    model: Any,
    features: list[dict[str, Any]],
    tokenizer: Any,
    cfg: TrainConfig,
    *,
    seed: int,
    progress: Progress,
    description: str = "train",
    loss_fn: LossFn = default_loss,
    extra_optimizers: Sequence[Any] = (),
    on_step: Callable[[int, int], dict[str, float] | None] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``features``.

    :param params: optimizer parameter groups; default all parameters with ``requires_grad``.
    :param on_step: called before each step with (step, total_steps); what it returns is logged.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, set_seed
    from transformers import get_linear_schedule_with_warmup

    from greenprune import distributed as dist
    from greenprune.data import loader

    set_seed(seed)
    _precision(cfg.mixed_precision)
    # split_batches: each process takes its share of every global batch (the argument of the same
    # name on Accelerator itself is ignored by accelerate 1.x; only the configuration object counts)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=cfg.mixed_precision,
                              dataloader_config=DataLoaderConfiguration(split_batches=True))
    check_global_batch(cfg.batch_size, accelerator.num_processes)
    data = loader(features, tokenizer, cfg.batch_size, shuffle=True, seed=seed)
    steps_per_epoch = max(1, math.ceil(len(features) / cfg.batch_size))
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    groups = params if params is not None else trainable_groups(model, cfg.weight_decay)
    optimizer = make_optimizer(groups, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    model, optimizer, data, scheduler = accelerator.prepare(model, optimizer, data, scheduler)
    extra = [accelerator.prepare(o) for o in extra_optimizers]
    # DDP averages the gradients of the model's own parameters; anything else trained here (a
    # compressor's gates and multipliers, a distillation projection) is averaged by hand, so
    # every process takes the same step.
    inside = {id(p) for p in model.parameters()}
    outside = [p for o in [optimizer, *extra] for g in o.param_groups for p in g["params"] if id(p) not in inside]
    # ...and starts where the main process's does, as DDP makes the model's (a gate initialised at
    # random after ranks' random streams parted would otherwise differ from the first step).
    dist.broadcast_tensors(outside)
    model.train()
    trace: list[dict[str, float]] = []
    step, seen, start = 0, 0, time.perf_counter()
    with progress.bar(description, total) as advance:
        while step < total:
            for batch in data:
                if step >= total:
                    break
                logged = on_step(step, total) if on_step else None
                loss, parts = loss_fn(model, batch)
                value = float(loss.detach())
                if not math.isfinite(value):
                    # Every later step would be NaN too: stop now rather than record a run that learnt nothing.
                    raise NonFiniteLoss(f"{description}: loss is {value} at step {step + 1} of {total}; training "
                                        f"diverged (lower train.learning_rate, now {cfg.learning_rate:g}, or the "
                                        "phase's own learning rate)")
                accelerator.backward(loss)
                dist.average_grads(outside)
                optimizer.step()
                scheduler.step()
                for o in extra:
                    o.step()
                    o.zero_grad()
                optimizer.zero_grad()
                step += 1
                seen += int(batch["input_ids"].shape[0]) * accelerator.num_processes
                if step % cfg.logging_steps == 0 or step == total:
                    parts = dist.mean_over_processes(parts)  # each process saw its share of the batch
                    trace.append({"step": step, "lr": scheduler.get_last_lr()[0], **parts, **(logged or {})})
                advance(1, loss=parts.get("loss", value))
    dist.synchronize()  # queued GPU work belongs to the wall time
    wall = time.perf_counter() - start
    # Undo accelerate's mixed-precision forward wrapper: evaluation and inference run the model as saved.
    accelerator.unwrap_model(model, keep_fp32_wrapper=False).eval()
    trained = [p for o in [optimizer, *extra] for g in o.param_groups for p in g["params"]]
    layout = {"processes": accelerator.num_processes, "global_batch": cfg.batch_size,
              "per_process_batch": cfg.batch_size // accelerator.num_processes,
              "mixed_precision": cfg.mixed_precision,
              "optimizer": "AdamW (fused)" if cfg.fused_optimizer else "AdamW (per-tensor loop)"}
    if accelerator.num_processes > 1:
        digests = dist.gather(dist.digest(trained))
        layout.update(param_digests=digests, processes_identical=len(set(digests)) == 1)
        if len(set(digests)) > 1:
            progress.say(f"[red]{description}: the processes ended on different weights ({digests})[/red]")
    return TrainResult(steps=step, epochs=step / steps_per_epoch, wall_s=wall, examples=seen, trace=trace,
                       layout=layout)


def _precision(wanted: str) -> None:
    """accelerate keeps one mixed-precision setting per process and refuses another; phases (or
    runs of one bench) may differ, so forget the old one (the process group stays)."""
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state.get("_mixed_precision") not in (None, wanted):
        AcceleratorState._reset_state(reset_partial_state=False)


def check_global_batch(batch_size: int, processes: int) -> None:
    """Each process takes an equal share of every batch: the global batch must divide evenly."""
    from greenprune.errors import UserError

    if batch_size % processes:
        raise UserError(f"train.batch_size {batch_size} (the global batch) does not split over {processes} "
                        f"processes: use a multiple of {processes}, e.g. --set train.batch_size="
                        f"{max(processes, batch_size - batch_size % processes)}")
