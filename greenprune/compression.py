"""What a compressor receives: the compress job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenprune.modeling import ModelBundle
    from greenprune.protocols import Tuner
    from greenprune.tasks import Task, TaskData


@dataclass
class CompressJob:
    """Everything a compressor may use; one job passes through every compressor of a chain."""

    #: the model to compress: the previous compressor's output, or the fine-tuned teacher for the
    #: first one. Shared with later phases: clone it before changing it.
    current: ModelBundle
    #: the fine-tuned teacher (distillation target); never changed by a compressor
    teacher: ModelBundle
    #: the pretrained model as loaded, before fine-tuning (``pretrained`` is True on it)
    pretrained: ModelBundle
    #: the run's task and its (seeded, subsampled) data
    task: Task
    data: TaskData
    #: the run's tuner: call ``tuner.prepare(student)`` before training so it picks the trainable
    #: weights, and merge ``tuner.train_overrides()`` under your own training settings
    tuner: Tuner
    #: the target sparsity (``--sparsity``) when the component declared ``needs_sparsity``, else None
    sparsity: float | None
