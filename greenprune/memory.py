"""Peak memory of a window of work: process resident memory on CPU, allocator peaks on CUDA.

CPU: the peak is the kernel's resident high-water mark (``VmHWM`` in ``/proc/self/status``),
reset at the start of the window by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), so
the figure is this window's peak, not the process's lifetime one. Before the reset, glibc is asked
to hand freed heap pages back (``malloc_trim``): otherwise memory freed by earlier work sits
resident in the allocator, the window reuses it, and its delta reads 0. Where the reset is not
possible (not Linux, or refused), the lifetime high-water mark of ``getrusage`` is used and the
method says so: its delta is a lower bound.

CUDA: ``torch.cuda`` peak allocated and reserved bytes, their peaks reset at the window start.

As essential plugin, this module also wraps every phase (``greenprune_run_phase``) and records its
peak in ``PhaseRecord.peak_memory``: training phases' memory beside their time and energy.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from greenprune import hookimpl
from greenprune.results import MemoryFigures

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    """Current resident set size of this process."""
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # pragma: no cover - psutil comes with the dependencies
        return None


def _trim_heap() -> None:
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
            ctypes.CDLL(name).malloc_trim(0)


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _lifetime_peak() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _cuda() -> Any:
    if "torch" not in sys.modules:  # nothing can have touched CUDA without torch
        return None
    import torch

    return torch.cuda if torch.cuda.is_available() else None


#: peaks of the windows open in this context, innermost last. A nested window resets the kernel's
#: high-water mark, so on exit it hands its peak to the enclosing windows (the phase wrapper around
#: the inference benchmark's per-model windows would otherwise see only the last window's peak).
_OPEN: ContextVar[tuple[list[int], ...]] = ContextVar("greenprune_memory_windows", default=())


@contextmanager
def peak_memory() -> Iterator[MemoryFigures]:
    """Measure the peak memory of the ``with`` body into the yielded figures (filled on exit)."""
    figures = MemoryFigures()
    _trim_heap()
    reset = _reset_peak()
    start = rss_bytes()
    cuda = _cuda()
    cuda_start = 0
    if cuda is not None:
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
        cuda_start = cuda.memory_allocated()
    mine: list[int] = [start or 0]
    token = _OPEN.set((*_OPEN.get(), mine))
    try:
        yield figures
    finally:
        _OPEN.reset(token)
        peak = (_status_kib("VmHWM") or 0) * 1024 if reset else _lifetime_peak()
        if peak is not None:
            peak = max(peak, *mine)
            for outer in _OPEN.get():
                outer[0] = max(outer[0], peak)
        figures.rss_start_bytes = start
        figures.peak_rss_bytes = peak
        if peak is not None and start is not None:
            figures.peak_rss_delta_bytes = max(0, peak - start)
        figures.method = ("rss-high-water-mark (reset at window start)" if reset
                          else "rss-lifetime-high-water-mark (lower bound of the window's delta)")
        if cuda is not None:
            cuda.synchronize()
            figures.cuda_max_allocated_bytes = int(cuda.max_memory_allocated())
            figures.cuda_max_reserved_bytes = int(cuda.max_memory_reserved())
            figures.cuda_allocated_delta_bytes = int(cuda.max_memory_allocated()) - int(cuda_start)


def peak_during(fn: Callable[[], Any], calls: int = 2) -> MemoryFigures:
    """Peak memory of ``calls`` calls of ``fn`` (an inference step)."""
    with peak_memory() as figures:
        for _ in range(calls):
            fn()
    return figures


def weight_bytes(model: Any) -> int:
    """Bytes of the model's parameters and buffers as they sit in memory (shared tensors once), and
    of the tensors its state dict holds beside them: a module that keeps its weights in another form
    (torch's int8 Linear keeps a packed object, neither parameter nor buffer) writes them there."""
    seen: set[int] = set()
    total = 0
    tensors = [*model.parameters(), *model.buffers(), *model.state_dict().values()]
    for t in tensors:
        if hasattr(t, "data_ptr") and t.data_ptr() not in seen:  # a state dict may hold extra non-tensor state
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


@hookimpl(wrapper=True)
def greenprune_run_phase(ctx: Any, phase: Any) -> Any:
    """Every phase's peak memory into its record (training, evaluation, inference alike)."""
    with peak_memory() as figures:
        try:
            return (yield)
        finally:
            phase.record.peak_memory = figures
