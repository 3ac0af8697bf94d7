"""What compressors and tuners receive, and the interfaces they implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from greenprune.context import RunContext
    from greenprune.modeling import ModelBundle
    from greenprune.tasks import Task, TaskData


@dataclass
class CompressJob:
    """Everything a compressor may use. ``current`` is the previous compressor's output (the
    fine-tuned teacher for the first one); ``teacher`` stays the fine-tuned teacher."""

    current: ModelBundle
    teacher: ModelBundle
    pretrained: ModelBundle
    task: Task
    data: TaskData
    tuner: Tuner
    sparsity: float | None


class Compressor(Protocol):
    def compress(self, ctx: RunContext, job: CompressJob) -> tuple[ModelBundle, dict[str, Any]]:
        """Return the compressed model and details for the phase record."""
        ...


class Tuner(Protocol):
    def prepare(self, bundle: ModelBundle) -> None:
        """Choose which weights train (``requires_grad``) in every phase after the teacher."""
        ...

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> tuple[
        ModelBundle, dict[str, Any]
    ]:
        """The post-compression training phase; return the tuned model and details."""
        ...

    # Optional: ``train_overrides() -> dict`` (TrainConfig fields a compressor's training should use
    # while this tuner's weights train, e.g. the adapters' larger learning rate), and
    # ``on_pruned(masked_model, compact_model, masks)`` (carry the tuner's own modules into a
    # physically pruned model).


def tuner_overrides(tuner: Any) -> dict[str, Any]:
    fn = getattr(tuner, "train_overrides", None)
    return dict(fn()) if fn is not None else {}
