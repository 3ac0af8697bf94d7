"""The tuning phase shared by tuners that train a few weights of a frozen backbone (adapter, lora):
their own learning rate and epochs over the run's recipe, ``prepare``, then the core training loop."""

from __future__ import annotations

from typing import Any

from greenprune.api import TrainResult, encode, train


def tune_frozen(ctx: Any, tuner: Any, bundle: Any, task: Any, data: Any, learning_rate: float,
                epochs: float | None) -> TrainResult:
    overrides: dict[str, Any] = {"learning_rate": learning_rate}
    if epochs is not None:
        overrides["epochs"] = epochs
    cfg = ctx.config.train.model_copy(update=overrides)
    tuner.prepare(bundle)
    features = encode(data.train, bundle.tokenizer, task, cfg.max_length)
    return train(bundle.model, features, bundle.tokenizer, cfg, seed=ctx.config.seed, progress=ctx.progress,
                 description=f"tune: {tuner.name}")
