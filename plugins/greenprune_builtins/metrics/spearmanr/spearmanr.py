"""Spearman rank correlation as an offline ``evaluate`` metric, as GLUE reports for STS-B.

Loaded with ``evaluate.load(<this folder>)`` so no Hub access is needed. The evaluate import
scanner reads this file line by line, so every top-level import stays on a line of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import datasets
import evaluate

if TYPE_CHECKING:
    import numpy

_DESCRIPTION = """
Spearman's rank correlation is the Pearson correlation of the ranks of the predicted and gold
scores: it measures how well a monotonic function describes their relationship. Tied values get
the average of their ranks (as scipy.stats.spearmanr does). It ranges from -1 to +1 and is NaN
when either input is constant.
"""

_CITATION = """
@article{spearman1904proof,
  title={The proof and measurement of association between two things},
  author={Spearman, Charles},
  journal={The American Journal of Psychology},
  volume={15},
  number={1},
  pages={72--101},
  year={1904}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float): predicted scores.
    references (list of float): gold scores, one per prediction.
Returns:
    spearman (float): Spearman's rho in [-1, 1], or NaN for a constant input.
Example:
    >>> metric = evaluate.load("path/to/spearmanr")
    >>> metric.compute(predictions=[1.0, 2.0, 3.0], references=[1.0, 3.0, 2.0])
    {'spearman': 0.5}
"""


def _average_ranks(values: numpy.ndarray) -> numpy.ndarray:
    """1-based ranks; a group of equal values shares the mean of the ranks it spans."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends: Any = np.append(starts[1:], values.size)  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks: Any = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


class SpearmanR(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions: list[float], references: list[float]) -> dict[str, float]:
        import numpy as np

        x = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(references, dtype=np.float64)
        if x.size < 2:
            raise ValueError("spearman correlation needs at least two predictions")
        rx = _average_ranks(x)
        ry = _average_ranks(y)
        rx -= rx.mean()
        ry -= ry.mean()
        denom = np.sqrt(np.dot(rx, rx) * np.dot(ry, ry))
        if denom == 0:
            return {"spearman": float("nan")}
        rho = float(np.dot(rx, ry) / denom)
        return {"spearman": max(-1.0, min(1.0, rho))}
