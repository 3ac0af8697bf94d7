"""Inference benchmark: latency, throughput and energy per example, teacher and student side by side.

Both models get the same fixed batch (real dev sentences, padded/truncated to ``seq_length`` so the
shape is stated and identical), the same warm-up, and alternate repeat by repeat in one process so
machine noise hits both alike. Energy per example comes from meter windows of at least
``min_window_s`` (a meter's resolution is coarse; a single batch is too short to measure), divided
by the number of examples run in the window.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from greenprune.config import InferenceConfig
from greenprune.metering import Meter
from greenprune.results import EnergyReading, InferenceFigures
from greenprune.tasks import Example


def fixed_batch(examples: list[Example], tokenizer: Any, cfg: InferenceConfig) -> dict[str, Any]:
    rows = [examples[i % len(examples)] for i in range(cfg.batch_size)]
    pairs = rows[0].get("text_b") is not None
    return dict(tokenizer([r["text_a"] for r in rows], [r.get("text_b") or "" for r in rows] if pairs else None,
                          padding="max_length", truncation=True, max_length=cfg.seq_length, return_tensors="pt"))


def _forward(model: Any, batch: dict[str, Any]) -> None:
    import torch

    with torch.inference_mode():
        model(**batch)
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _energy_window(model: Any, batch: dict[str, Any], meters: list[Meter], min_s: float) -> tuple[
    list[EnergyReading], int
]:
    tokens = [(m, m.start()) for m in meters]
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < min_s:
        _forward(model, batch)
        n += 1
    readings = [r for m, tok in tokens for r in m.stop(tok)]
    return readings, n * len(batch["input_ids"])


def benchmark(models: dict[str, Any], examples: list[Example], tokenizer: Any, cfg: InferenceConfig,
              meters: list[Meter]) -> dict[str, InferenceFigures]:
    """Latency per batch (median/min/max over repeats) and J per example for each model."""
    batch = fixed_batch(examples, tokenizer, cfg)
    devices = {name: next(m.parameters()).device for name, m in models.items()}
    batches = {name: {k: v.to(devices[name]) for k, v in batch.items()} for name in models}
    for name, model in models.items():
        model.eval()
        for _ in range(cfg.warmup):
            _forward(model, batches[name])
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(cfg.repeats):  # alternate so drift and noise hit every model alike
        for name, model in models.items():
            t0 = time.perf_counter()
            _forward(model, batches[name])
            times[name].append(time.perf_counter() - t0)
    figures = {}
    for name, model in models.items():
        readings, count = _energy_window(model, batches[name], meters, cfg.min_window_s) if meters else ([], 0)
        per_example = {
            f"{r.meter}:{r.covers}": (r.joules / count if r.joules is not None and count else None)
            for r in readings
        }
        median = statistics.median(times[name])
        figures[name] = InferenceFigures(
            batch_size=cfg.batch_size, seq_length=cfg.seq_length, repeats=cfg.repeats,
            latency_ms_median=median * 1e3, latency_ms_min=min(times[name]) * 1e3,
            latency_ms_max=max(times[name]) * 1e3, throughput_per_s=cfg.batch_size / median,
            energy_per_example_j=per_example,
            energy=[r.model_copy(update={"details": {**r.details, "examples": count}}) for r in readings],
        )
    return figures
