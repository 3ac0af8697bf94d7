"""Offline metric modules for ``evaluate`` and the official GLUE metrics of each task.

Each metric lives in ``<name>/<name>.py`` next to this file, the folder layout that
``evaluate.load(<folder>)`` loads from disk, so scoring never needs the Hugging Face Hub.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.api import unknown

if TYPE_CHECKING:
    import evaluate

METRICS_DIR = Path(__file__).resolve().parent

#: metric module name -> the key of the value its ``compute`` returns
METRIC_KEYS: dict[str, str] = {
    "accuracy": "accuracy",
    "f1": "f1",
    "matthews_correlation": "matthews_correlation",
    "pearsonr": "pearson",
    "spearmanr": "spearman",
    # SQuAD v1.1/v2.0; also returns exact_match (and HasAns_*/NoAns_* for v2)
    "squad": "f1",
}

#: GLUE task -> its official metric modules; tasks not listed are scored by accuracy alone
TASK_METRIC_MODULES: dict[str, tuple[str, ...]] = {
    "cola": ("matthews_correlation",),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "stsb": ("pearsonr", "spearmanr"),
}


@functools.cache  # an unbounded lru_cache: evaluate.load costs ~0.1-1 s a call
def load_metric(name: str) -> evaluate.EvaluationModule:
    """The offline ``evaluate`` module ``name`` (see :data:`METRIC_KEYS`), loaded once per process.

    ``keep_in_memory`` keeps predictions out of the evaluate cache folder: nothing is written
    there and no file locks are taken, which also suits read-only home folders on clusters.
    """
    if name not in METRIC_KEYS:
        raise unknown("metric", name, METRIC_KEYS)
    import evaluate

    return evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)


def task_metric_modules(task_name: str) -> tuple[str, ...]:
    """The metric modules that score ``task_name`` officially (accuracy for tasks not listed)."""
    return TASK_METRIC_MODULES.get(task_name, ("accuracy",))


def task_metrics(task_name: str, predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """The official GLUE metrics of ``task_name``: CoLA Matthews correlation; MRPC and QQP accuracy
    and F1; STS-B Pearson and Spearman; every other task accuracy.

    :return: metric key (``accuracy``, ``f1``, ``matthews_correlation``, ``pearson``, ``spearman``)
        -> value.
    """
    return score([METRIC_KEYS[m] for m in task_metric_modules(task_name)], predictions, references)


def score(keys: Sequence[str], predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """Compute the metrics named by their output keys (``accuracy``, ``pearson``, ...), each with the
    offline module that produces it."""
    module_of: dict[str, str] = {}
    for module, key in METRIC_KEYS.items():
        module_of.setdefault(key, module)  # "f1" is the GLUE f1 module, not squad's
    out: dict[str, float] = {}
    for key in keys:
        result = load_metric(module_of[key]).compute(predictions=predictions, references=references)
        out[key] = float(result[key])
    return out
