"""The SQuAD tasks: ``squad`` (v1.1) and ``squad_v2`` (2.0, with unanswerable questions).

Extractive question answering scored with SQuAD's exact match and F1 (0-100) by the ``qa``
evaluator. Data comes from the official JSON files in a local folder (``--data-dir`` or
``$GREENPRUNE_DATA_DIR``), else from the Hugging Face Hub (``rajpurkar/squad``,
``rajpurkar/squad_v2``); with one file at hand it is split by article (see
:mod:`greenprune_builtins.tasks.squad_data`).

The window settings (``max_length``, ``doc_stride``, ...) are options of the task, not of training:
they define the features every phase trains and is evaluated on. ``train.max_length`` does not
apply to these tasks.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from greenprune.api import Component, QATask, TaskData, hookimpl

#: special tokens of a BERT question/context pair: [CLS] q [SEP] c [SEP]
_BERT_PAIR_SPECIALS = 3


class SquadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    split_from: Literal["train", "dev"] | None = Field(
        None, description="split this official file into train and dev by article; default: the official "
        "train/dev files when both exist, else the one file at hand")
    train_articles: float = Field(0.8, gt=0, lt=1, description="share of the articles used for training when a "
                                  "file is split")
    split_seed: int = Field(0, description="seed of the article split (independent of the run's seed, so "
                            "every run is scored on the same articles)")
    max_length: int = Field(384, ge=32, le=4096, description="tokens per window (question + context); "
                            "replaces train.max_length for this task")
    doc_stride: int = Field(128, ge=1, description="tokens shared by consecutive windows of a long context")
    max_query_length: int = Field(64, ge=1, description="questions are clipped to this many tokens")
    max_answer_length: int = Field(30, ge=1, description="longest predicted answer, in tokens")
    n_best: int = Field(20, ge=1, description="start and end candidates considered per window")
    null_threshold: float = Field(0.0, description="squad_v2: predict no answer when the null score exceeds the "
                                  "best span's by more than this")

    @model_validator(mode="after")
    def _window_has_room(self) -> SquadOptions:
        room = self.max_length - self.max_query_length - _BERT_PAIR_SPECIALS
        if self.doc_stride >= room:
            raise ValueError(f"doc_stride={self.doc_stride} must be below max_length - max_query_length - 3 = "
                             f"{room}, or consecutive windows would add no new context")
        return self


def build(name: str, options: SquadOptions) -> QATask:
    version_2 = name == "squad_v2"
    metrics: tuple[str, ...] = ("exact_match", "f1")
    if version_2:
        metrics += ("HasAns_exact_match", "HasAns_f1", "NoAns_exact_match", "NoAns_f1")
    return QATask(
        name=name, title="SQuAD 2.0" if version_2 else "SQuAD v1.1", kind="qa", num_labels=2,
        metrics=metrics, primary_metric="f1", evaluator="qa", version_2=version_2,
        description=("extractive QA with unanswerable questions (exact match, F1)" if version_2
                     else "extractive question answering on Wikipedia paragraphs (exact match, F1)"),
        **options.model_dump(),
    )


@hookimpl
def greenprune_register_tasks(register: Any) -> None:
    for name in ("squad", "squad_v2"):
        task = build(name, SquadOptions())
        register(Component(name, factory=functools.partial(build, name), options=SquadOptions,
                           description=f"{task.title}: {task.description}"))


@hookimpl
def greenprune_load_task_data(task: Any, ctx: Any) -> TaskData | None:
    if task.name not in ("squad", "squad_v2") or not isinstance(task, QATask):
        return None  # not ours: let another plugin answer
    from greenprune_builtins.tasks import squad_data
    from greenprune_builtins.tasks.glue_readers import configured_data_dir

    split = (task.split_from, task.train_articles, task.split_seed)
    data_dir = configured_data_dir(getattr(ctx.config, "data_dir", None))
    if data_dir is not None:
        # A configured folder is authoritative: its errors are reported, never papered over by the Hub.
        return squad_data.load_local(data_dir, task.version_2, *split)
    return squad_data.load_hub(task.version_2, *split)


@hookimpl
def greenprune_check_task_data(task: Any, config: Any) -> None:
    """A configured folder is checked before the run (the Hub is tried when the data loads)."""
    from greenprune_builtins.tasks import squad_data
    from greenprune_builtins.tasks.glue_readers import configured_data_dir

    data_dir = configured_data_dir(getattr(config, "data_dir", None))
    if isinstance(task, QATask) and task.name in ("squad", "squad_v2") and data_dir is not None:
        squad_data.locate(data_dir, task.version_2, task.split_from)
