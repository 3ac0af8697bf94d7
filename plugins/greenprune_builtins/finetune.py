"""The ``finetune`` tuner: every weight trains."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, Tuner, hookimpl


class FinetuneOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: float | None = Field(None, gt=0, description="default: the run's train.epochs")
    learning_rate: float | None = Field(None, gt=0, description="default: the run's train.learning_rate")


class Finetune(Tuner):
    name = "finetune"

    def __init__(self, options: FinetuneOptions) -> None:
        self.options = options

    def prepare(self, bundle: Any) -> None:
        for p in bundle.model.parameters():
            p.requires_grad_(True)

    def tune(self, ctx: Any, bundle: Any, task: Any, data: Any) -> tuple[Any, dict[str, Any]]:
        from greenprune.api import encode, finetune_cached, train

        overrides = {k: v for k, v in self.options.model_dump().items() if v is not None}
        cfg = ctx.config.train.model_copy(update=overrides)
        if bundle.pretrained:
            # Fine-tuning the pretrained model is exactly what the teacher phase did when the
            # settings match, so the cache returns the same model instead of training it twice.
            return finetune_cached(ctx, bundle, task, data, cfg, description="tune: finetune")
        self.prepare(bundle)
        features = encode(data.train, bundle.tokenizer, task, cfg.max_length)
        result = train(bundle.model, features, bundle.tokenizer, cfg, seed=ctx.config.seed,
                       progress=ctx.progress, description="tune: finetune")
        return bundle, {"train": result.summary(), "trace": result.trace, "cache_hit": False}


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("finetune", factory=Finetune, options=FinetuneOptions,
                       description="full fine-tuning: every weight trains"))
