"""The GLUE tasks (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI) as greenprune tasks.

Data comes from a local folder in the classic GLUE TSV layout (``--data-dir`` or
``$GREENPRUNE_DATA_DIR``), else from the Hugging Face Hub (``nyu-mll/glue``); see
:mod:`greenprune_builtins.tasks.glue_readers`. Label ids match the Hub dataset's.
"""

from __future__ import annotations

import functools
from typing import Any

from greenprune.api import Component, Task, TaskData, hookimpl
from greenprune_builtins.tasks import glue_readers


def _task(name: str, title: str, labels: tuple[str, ...], description: str,
          metrics: tuple[str, ...] = ("accuracy",), primary: str = "accuracy") -> Task:
    regression = not labels
    return Task(
        name=name, title=title, kind="regression" if regression else "classification",
        num_labels=1 if regression else len(labels), metrics=metrics, primary_metric=primary,
        label_names=labels, dev_splits=glue_readers.LAYOUTS[name].dev_files, evaluator="glue",
        description=description,
    )


_NLI_2 = ("entailment", "not_entailment")

#: The GLUE tasks by ``--task`` name. Metrics are GLUE's official ones, the primary one first.
TASKS: dict[str, Task] = {t.name: t for t in (
    _task("cola", "GLUE CoLA", ("unacceptable", "acceptable"),
          "grammatical acceptability of one sentence (Matthews correlation)",
          metrics=("matthews_correlation",), primary="matthews_correlation"),
    _task("sst2", "GLUE SST-2", ("negative", "positive"), "sentiment of movie-review sentences"),
    _task("mrpc", "GLUE MRPC", ("not_equivalent", "equivalent"),
          "are two news sentences paraphrases (accuracy, F1)", metrics=("accuracy", "f1")),
    _task("stsb", "GLUE STS-B", (), "semantic similarity of two sentences, a 0-5 score (Pearson, Spearman)",
          metrics=("pearson", "spearman"), primary="pearson"),
    _task("qqp", "GLUE QQP", ("not_duplicate", "duplicate"),
          "are two Quora questions duplicates (accuracy, F1)", metrics=("accuracy", "f1")),
    _task("mnli", "GLUE MNLI", ("entailment", "neutral", "contradiction"),
          "three-way entailment; dev matched and mismatched genres"),
    _task("qnli", "GLUE QNLI", _NLI_2, "does a Wikipedia sentence answer the question"),
    _task("rte", "GLUE RTE", _NLI_2, "two-way textual entailment"),
    _task("wnli", "GLUE WNLI", ("not_entailment", "entailment"), "Winograd-schema entailment"),
)}


def _same(task: Task, _options: object) -> Task:
    return task


@hookimpl
def greenprune_register_tasks(register: Any) -> None:
    for task in TASKS.values():
        # Task is frozen, so every build may share the one instance.
        register(Component(task.name, factory=functools.partial(_same, task),
                           description=f"{task.title}: {task.description}"))


@hookimpl
def greenprune_load_task_data(task: Task, ctx: Any) -> TaskData | None:
    if task.name not in TASKS:
        return None  # not ours (e.g. the demo task): let another plugin answer
    data_dir = glue_readers.configured_data_dir(getattr(ctx.config, "data_dir", None))
    if data_dir is not None:
        # A configured folder is authoritative: its errors are reported, never papered over by the Hub.
        return glue_readers.load_local(task.name, data_dir)
    return glue_readers.load_hub(task.name)


@hookimpl
def greenprune_check_task_data(task: Task, config: Any) -> None:
    """A configured folder is checked before the run (the Hub is tried when the data loads)."""
    data_dir = glue_readers.configured_data_dir(getattr(config, "data_dir", None))
    if task.name in TASKS and data_dir is not None:
        glue_readers.check_local(task.name, data_dir)
