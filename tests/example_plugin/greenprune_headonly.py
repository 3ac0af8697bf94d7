"""An example third-party greenprune plugin: the ``head-only`` tuner (a linear probe).

Installed as its own distribution, found through the ``greenprune`` entry-point group, and used
by ``greenprune bench --tuner head-only`` without any change to greenprune itself. It imports only
``greenprune.api``, the public plugin API.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from greenprune.api import (
    Component,
    ModelBundle,
    PhaseOutput,
    RunContext,
    Task,
    TaskData,
    TrainOverrides,
    Tuner,
    hookimpl,
    phase_config,
    train_phase,
)


class HeadOnlyOptions(TrainOverrides):  # epochs and learning_rate, like every component that trains
    learning_rate: float = Field(1e-3, gt=0, description="a probe wants a larger rate than a fine-tune")


class HeadOnly(Tuner):  # subclassing the protocol inherits its optional members' defaults
    def __init__(self, options: HeadOnlyOptions) -> None:
        self.options = options

    def prepare(self, bundle: ModelBundle) -> None:
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(name.startswith(("classifier", "bert.pooler")))

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        self.prepare(bundle)
        out = train_phase(ctx, bundle, task, data, phase_config(ctx, self.options.overrides()),
                          description="tune: head-only")
        out.details["trainable_params"] = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)
        return out


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("head-only", factory=HeadOnly, options=HeadOnlyOptions,
                       description="train only the task head (a linear probe)"))
