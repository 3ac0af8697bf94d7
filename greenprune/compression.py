"""What compressors and tuners receive, and the interfaces they implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from greenprune.context import RunContext
    from greenprune.modeling import ModelBundle
    from greenprune.structure.surgery import SurgeryEvent
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
    # ``on_surgery(before, after, events)``: carry the tuner's own modules from ``before`` into
    # ``after``, a model a compressor rebuilt (converted or physically shrunk); ``events`` (a list of
    # :class:`greenprune.structure.surgery.SurgeryEvent`) say per changed module which input and
    # output features stayed and which scales were folded in; a module without an event kept its
    # name and shape. ``state_keys(model) -> set[str]``: the state-dict keys of ``model`` that are
    # the tuner's own modules, not the architecture's (a compressor rebuilding the model leaves them
    # out and lets ``on_surgery`` carry them).


def tuner_overrides(tuner: Any) -> dict[str, Any]:
    fn = getattr(tuner, "train_overrides", None)
    return dict(fn()) if fn is not None else {}


def notify_surgery(tuner: Any, before: Any, after: Any, events: Sequence[SurgeryEvent]) -> None:
    """Tell ``tuner`` that ``after`` replaces ``before`` (a compressor calls this after its surgery)."""
    fn = getattr(tuner, "on_surgery", None)
    if fn is not None:
        fn(before, after, list(events))


def tuner_state_keys(tuner: Any, model: Any) -> set[str]:
    """The state-dict keys of ``model`` that ``tuner`` added (empty when it declares none)."""
    fn = getattr(tuner, "state_keys", None)
    return set(fn(model)) if fn is not None else set()
