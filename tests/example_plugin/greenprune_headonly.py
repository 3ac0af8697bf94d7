"""An example third-party greenprune plugin: the ``head-only`` tuner (a linear probe).

Installed as its own distribution, found through the ``greenprune`` entry-point group, and used
by ``greenprune bench --tuner head-only`` without any change to greenprune itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, ModelBundle, RunContext, Task, TaskData, Tuner, encode, hookimpl, train


class HeadOnlyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learning_rate: float = Field(1e-3, gt=0, description="a probe wants a larger rate than a fine-tune")


class HeadOnly(Tuner):
    def __init__(self, options: HeadOnlyOptions) -> None:
        self.options = options

    def prepare(self, bundle: ModelBundle) -> None:
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(name.startswith(("classifier", "bert.pooler")))

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> tuple[
        ModelBundle, dict[str, Any]
    ]:
        self.prepare(bundle)
        cfg = ctx.config.train.model_copy(update={"learning_rate": self.options.learning_rate})
        features = encode(data.train, bundle.tokenizer, task, cfg.max_length)
        result = train(bundle.model, features, bundle.tokenizer, cfg, seed=ctx.config.seed,
                       progress=ctx.progress, description="tune: head-only")
        trainable = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)
        return bundle, {"train": result.summary(), "trace": result.trace, "trainable_params": trainable}


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("head-only", factory=HeadOnly, options=HeadOnlyOptions,
                       description="train only the task head (a linear probe)"))
