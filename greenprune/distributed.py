"""Runs with several processes (``torchrun``, ``accelerate launch``): who is the main process, and
the few collective operations a run needs.

Every process runs every phase (training is data-parallel), so every process must reach the same
collectives in the same order; the helpers here are no-ops in a single process. Which process is
main comes from the launcher's environment (``RANK``, ``WORLD_SIZE``), so asking costs no torch
import and ``greenprune --help`` stays fast. The process group itself is accelerate's
(``PartialState``): gloo on CPUs, NCCL on GPUs.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterable
from typing import Any


def world_size() -> int:
    """Processes in this run (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Only the main process writes results, caches, saved models and reports, and prints."""
    return rank() == 0


def _state() -> Any:
    """accelerate's process state: joins the process group the launcher set up (once per process)."""
    import torch
    from accelerate import PartialState

    # cpu=True where there is no GPU: otherwise accelerate sees no accelerator and runs each
    # process alone instead of joining them with gloo.
    return PartialState(cpu=not torch.cuda.is_available())


def _dist() -> Any:
    _state()
    import torch.distributed as dist

    return dist


def broadcast(obj: Any) -> Any:
    """The main process's ``obj`` on every process (a decision, a small record)."""
    if world_size() == 1:
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order, on every process."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    _dist().all_gather_object(out, obj)
    return out


def mean_over_processes(values: dict[str, float]) -> dict[str, float]:
    """Each key's mean over the processes (logged losses: every process computed its share's)."""
    if world_size() == 1:
        return values
    every = gather(values)
    return {k: sum(float(v[k]) for v in every) / len(every) for k in values}


def barrier() -> None:
    if world_size() > 1:
        _dist().barrier()


def _device_copies(tensors: list[Any]) -> list[Any]:
    """NCCL moves only GPU tensors: copies on the process's device (the tensors themselves on gloo)."""
    device = _state().device
    return [t if t.device == device else t.to(device) for t in tensors]


def sync_module(module: Any) -> None:
    """Overwrite ``module``'s parameters and buffers with the main process's (same architecture)."""
    broadcast_tensors(list(module.state_dict().values()))


def broadcast_tensors(tensors: list[Any]) -> None:
    """Overwrite each tensor in place with the main process's."""
    if world_size() == 1:
        return
    import torch

    dist = _dist()
    with torch.no_grad():
        for t, d in zip(tensors, _device_copies(tensors), strict=True):
            dist.broadcast(d, src=0)
            if d is not t:
                t.copy_(d)


def average_grads(params: Iterable[Any]) -> None:
    """Average the gradients of ``params`` over processes: for parameters outside the
    DistributedDataParallel model (a compressor's gates and multipliers, a distillation
    projection), whose gradients DDP does not synchronise."""
    if world_size() == 1:
        return
    dist = _dist()
    for p in params:
        if p.grad is None:
            continue
        (g,) = _device_copies([p.grad])
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        g /= world_size()
        if g is not p.grad:
            p.grad.copy_(g)


def digest(tensors: Iterable[Any]) -> str:
    """A short SHA-256 of the tensors' exact bytes (to show processes ended on identical weights)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def where() -> dict[str, Any]:
    """This process: host, rank, local rank, and the world size (recorded with readings and results)."""
    return {"host": socket.gethostname(), "rank": rank(), "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
            "world_size": world_size()}


def synchronize() -> None:
    """Wait for the GPU's queued work (kernels run asynchronously), so a wall clock read next
    measures it; nothing to wait for on CPUs."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def check_launch(train: Any) -> None:
    """Settings a multi-process run or mixed precision cannot honour, refused before any work."""
    from greenprune.errors import UserError
    from greenprune.training import check_global_batch

    check_global_batch(train.batch_size, world_size())
    if train.mixed_precision == "fp16":
        import torch

        if not torch.cuda.is_available():
            raise UserError("train.mixed_precision=fp16 needs a GPU (none here); on CPUs use "
                            "--set train.mixed_precision=bf16, or no")


def shard_for_eval(loader: Any) -> tuple[Any, Any]:
    """``loader`` split over the processes, and ``gather(values)`` which turns one batch's
    per-example values (a list) into the whole step's, from every process, in dataset order.

    accelerate completes the last round of batches with repeated examples so every process takes
    a step; ``gather_for_metrics`` drops them again, so no example is lost or counted twice. In
    one process the loader is returned as is and ``gather`` returns its argument."""
    if world_size() == 1:
        return loader, lambda values: values
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=_state().device.type == "cpu")
    sharded = accelerator.prepare_data_loader(loader, device_placement=False)
    return sharded, lambda values: accelerator.gather_for_metrics(list(values), use_gather_object=True)
