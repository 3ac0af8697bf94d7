"""Inference benchmark: latency, throughput and energy per example, teacher and student side by side.

Both models get the same fixed batch (real dev sentences, padded/truncated to ``seq_length`` so the
shape is stated and identical), the same warm-up, and alternate repeat by repeat in one process so
machine noise hits both alike.

Energy per example comes from meter windows, never from a single batch: a meter's resolution is
coarse (counters tick in ms, power is polled every 50 ms or so), so each window runs at least
``min_window_s`` AND at least :data:`MIN_WINDOW_BATCHES` batches, and its joules are divided by the
examples run in it. Each model gets ``energy_repeats`` such windows, alternated with the other
model's (in swapped order every other repeat, so a slow drift of power or clock favours neither);
the figure is the median J per example, with the min and max of the windows as its spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from greenprune.config import InferenceConfig
from greenprune.metering import Meter, apply_baseline, metered
from greenprune.results import EnergyReading, InferenceFigures, PerExampleEnergy
from greenprune.tasks import Example

#: fewest batches in one energy window, however fast the model: a window of one or two batches
#: would make J per example hinge on a single batch's timing and the meter's edge effects.
MIN_WINDOW_BATCHES = 10


def fixed_batch(examples: list[Example], tokenizer: Any, cfg: InferenceConfig) -> dict[str, Any]:
    rows = [examples[i % len(examples)] for i in range(cfg.batch_size)]
    pairs = rows[0].get("text_b") is not None
    return dict(tokenizer([r["text_a"] for r in rows], [r.get("text_b") or "" for r in rows] if pairs else None,
                          padding="max_length", truncation=True, max_length=cfg.seq_length, return_tensors="pt"))


def _describe(device: Any) -> str:
    import torch

    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def _forward(model: Any, batch: dict[str, Any]) -> None:
    import torch

    from greenprune.distributed import synchronize

    with torch.inference_mode():
        model(**batch)
    synchronize()  # the GPU runs asynchronously: the clock must see the work done


def _energy_window(call: Callable[[], None], batch_size: int, meters: list[Meter], min_s: float,
                   min_batches: int) -> tuple[list[EnergyReading], int]:
    """One metered window of at least ``min_s`` seconds and ``min_batches`` calls of ``call``
    (one batch of ``batch_size`` examples each).

    :return: the readings (each with ``examples`` and ``batches`` in its details), and the examples run.
    """
    n = 0
    with metered(meters) as window:
        t0 = time.perf_counter()
        while n < min_batches or time.perf_counter() - t0 < min_s:
            call()
            n += 1
    examples = n * batch_size
    for r in window.readings:
        r.details = {**r.details, "examples": examples, "batches": n}
    return window.readings, examples


def per_example(readings: list[EnergyReading], windows: int) -> dict[str, PerExampleEnergy]:
    """``meter:covers`` -> median and spread of J per example over the windows' readings (each
    carrying ``examples`` in its details). A window without a figure adds no value."""
    by: dict[str, list[EnergyReading]] = {}
    for r in readings:
        by.setdefault(f"{r.meter}:{r.covers}", []).append(r)
    out = {}
    for key, mine in by.items():
        values = [r.joules / r.details["examples"] for r in mine if r.joules is not None and r.details.get("examples")]
        dynamic = [r.dynamic_j / r.details["examples"] for r in mine
                   if r.dynamic_j is not None and r.details.get("examples")]
        out[key] = PerExampleEnergy(
            method="/".join(dict.fromkeys(r.method for r in mine)), windows=windows, values_j=values,
            median_j=statistics.median(values) if values else None,
            min_j=min(values) if values else None, max_j=max(values) if values else None,
            dynamic_median_j=statistics.median(dynamic) if dynamic else None)
    return out


def eager_call(model: Any, batch: dict[str, Any]) -> Callable[[], None]:
    """One forward of ``model`` on ``batch`` (moved to the model's device once, here)."""
    device = next(model.parameters()).device
    on_device = {k: v.to(device) for k, v in batch.items()}
    model.eval()
    return lambda: _forward(model, on_device)


def benchmark(models: dict[str, Any], examples: list[Example], tokenizer: Any, cfg: InferenceConfig,
              meters: list[Meter], baseline: list[EnergyReading] | None = None) -> dict[str, InferenceFigures]:
    """Latency per batch (median/min/max over repeats) and J per example (median, min/max over
    ``energy_repeats`` windows) for each model, eager PyTorch; ``baseline`` (the run's idle
    readings) adds the dynamic part to every energy reading."""
    from greenprune.memory import weight_bytes

    batch = fixed_batch(examples, tokenizer, cfg)
    figures = measure({name: eager_call(m, batch) for name, m in models.items()}, cfg.batch_size, cfg, meters,
                      baseline)
    for name, model in models.items():
        figures[name].device = _describe(next(model.parameters()).device)
        memory = figures[name].memory
        if memory is not None:
            memory.weight_bytes = weight_bytes(model)
    return figures


def measure(calls: dict[str, Callable[[], None]], batch_size: int, cfg: InferenceConfig, meters: list[Meter],
            baseline: list[EnergyReading] | None = None) -> dict[str, InferenceFigures]:
    """The protocol on ready-to-call inference steps (any runtime): each step's peak memory over
    its first calls (one step at a time, before any warm-up, so first-call allocations count),
    warm-up, alternating timed repeats, alternating energy windows."""
    from greenprune.memory import peak_during

    memory = {name: peak_during(call) for name, call in calls.items()}
    for call in calls.values():
        for _ in range(cfg.warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(cfg.repeats):
        # Alternate, and swap the order every other repeat, so drift, noise and position (cache
        # warmth after the other model) hit every model alike.
        order = list(calls.items()) if r % 2 == 0 else list(reversed(calls.items()))
        for name, call in order:
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    readings: dict[str, list[EnergyReading]] = {name: [] for name in calls}
    if meters:
        names = list(calls)
        for rep in range(cfg.energy_repeats):
            for name in names if rep % 2 == 0 else names[::-1]:
                window, _ = _energy_window(calls[name], batch_size, meters, cfg.min_window_s, MIN_WINDOW_BATCHES)
                for reading in window:
                    reading.details["repeat"] = rep
                apply_baseline(window, baseline or [])
                readings[name] += window
    figures = {}
    for name in calls:
        spread = per_example(readings[name], cfg.energy_repeats) if meters else {}
        median = statistics.median(times[name])
        figures[name] = InferenceFigures(
            batch_size=batch_size, seq_length=cfg.seq_length, repeats=cfg.repeats,
            latency_ms_median=median * 1e3, latency_ms_min=min(times[name]) * 1e3,
            latency_ms_max=max(times[name]) * 1e3, throughput_per_s=batch_size / median,
            energy_per_example_j={k: v.median_j for k, v in spread.items()},
            energy_per_example=spread, energy=readings[name], memory=memory[name],
        )
    return figures
