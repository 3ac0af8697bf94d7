"""The one training-phase helper (the teacher's fine-tune, every compressor, every tuner) and the
shared options that override a phase's epochs and learning rate.

A training phase is always: the run's ``TrainConfig`` with layered overrides, encode the task's
training examples, train, and report the training summary and trace. Components differ only in
the model, the loss and the extras they pass to :func:`greenprune.training.train`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.context import PhaseOutput

if TYPE_CHECKING:
    from greenprune.config import TrainConfig
    from greenprune.context import RunContext
    from greenprune.modeling import ModelBundle
    from greenprune.tasks import Task, TaskData


class TrainOverrides(BaseModel):
    """Options shared by every component that trains: subclass it for a component's options model
    (``class MyOptions(TrainOverrides)``), and pass :meth:`overrides` to :func:`phase_config`."""

    model_config = ConfigDict(extra="forbid")
    epochs: float | None = Field(None, gt=0, description="training epochs of this component's phase (default: "
                                 "the component's own, the run's train.epochs unless its description says otherwise)")
    learning_rate: float | None = Field(None, gt=0, description="learning rate of this component's phase "
                                        "(default: the component's own, the run's train.learning_rate unless "
                                        "its description says otherwise)")

    def overrides(self) -> dict[str, Any]:
        """The training settings this component's options set (``None`` = not set)."""
        return {k: v for k, v in (("epochs", self.epochs), ("learning_rate", self.learning_rate)) if v is not None}


def phase_config(ctx: RunContext, *layers: Mapping[str, Any]) -> TrainConfig:
    """The run's ``TrainConfig`` with ``layers`` applied, lowest first (e.g. the tuner's
    ``train_overrides()``, then a component's defaults, then its options' ``overrides()``)."""
    update: dict[str, Any] = {}
    for layer in layers:
        update.update(layer)
    return ctx.config.train.model_copy(update=update)


def train_phase(ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData, cfg: TrainConfig, *,
                description: str, features: list[dict[str, Any]] | None = None,
                **train_kwargs: Any) -> PhaseOutput[ModelBundle]:
    """Train ``bundle.model`` in place on the task's training examples (``features`` when the
    caller built its own, e.g. augmented copies) with the run's seed and progress.

    :param train_kwargs: passed to :func:`greenprune.training.train` (``loss_fn``,
        ``extra_optimizers``, ``on_step``, ``params``).
    :return: the bundle, ``details={"train": summary, "trainable_params": n, "total_params": m}``
        (counted as training starts) and the logged trace; add your own details.
    """
    from greenprune.data import encode
    from greenprune.training import train

    if features is None:
        features = encode(data.train, bundle.tokenizer, task, cfg.max_length)
    # What trains, counted before training (a tuner may merge or drop its modules afterwards).
    params = list(bundle.model.parameters())
    counts = {"trainable_params": sum(p.numel() for p in params if p.requires_grad),
              "total_params": sum(p.numel() for p in params)}
    result = train(bundle.model, features, bundle.tokenizer, cfg, seed=ctx.config.seed, progress=ctx.progress,
                   description=description, **train_kwargs)
    return PhaseOutput(bundle, {"train": result.summary(), **counts}, trace=result.trace)
