"""The ``finetune`` tuner: every weight trains."""

from __future__ import annotations

from typing import Any

from greenprune.api import (
    Component,
    ModelBundle,
    PhaseOutput,
    RunContext,
    Task,
    TaskData,
    TrainOverrides,
    Tuner,
    finetune_cached,
    hookimpl,
    phase_config,
    train_phase,
)


class FinetuneOptions(TrainOverrides):
    """``epochs`` and ``learning_rate`` only (default: the run's ``train`` settings)."""


class Finetune(Tuner):
    name = "finetune"

    def __init__(self, options: FinetuneOptions) -> None:
        self.options = options

    def prepare(self, bundle: ModelBundle) -> None:
        for p in bundle.model.parameters():
            p.requires_grad_(True)

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        cfg = phase_config(ctx, self.options.overrides())
        if bundle.pretrained:
            # Fine-tuning the pretrained model is exactly what the teacher phase did when the
            # settings match, so the cache returns the same model instead of training it twice.
            return finetune_cached(ctx, bundle, task, data, cfg, description="tune: finetune")
        self.prepare(bundle)
        return train_phase(ctx, bundle, task, data, cfg, description="tune: finetune")


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("finetune", factory=Finetune, options=FinetuneOptions,
                       description="full fine-tuning: every weight trains"))
