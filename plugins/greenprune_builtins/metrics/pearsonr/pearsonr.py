"""Pearson correlation as an offline ``evaluate`` metric, as GLUE reports for STS-B.

Loaded with ``evaluate.load(<this folder>)`` so no Hub access is needed. The evaluate import
scanner reads this file line by line, so every top-level import stays on a line of its own.
"""

from __future__ import annotations

import datasets
import evaluate

_DESCRIPTION = """
The Pearson correlation coefficient measures the linear relationship between predicted and gold
scores. It ranges from -1 through 0 (no linear relationship) to +1 (exact positive linear
relationship). It is NaN when either input is constant (as scipy.stats.pearsonr returns).
"""

_CITATION = """
@article{pearson1895note,
  title={Note on regression and inheritance in the case of two parents},
  author={Pearson, Karl},
  journal={Proceedings of the Royal Society of London},
  volume={58},
  pages={240--242},
  year={1895}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float): predicted scores.
    references (list of float): gold scores, one per prediction.
Returns:
    pearson (float): Pearson's r in [-1, 1], or NaN for a constant input.
Example:
    >>> metric = evaluate.load("path/to/pearsonr")
    >>> metric.compute(predictions=[1.0, 2.0, 3.0], references=[1.0, 2.0, 2.5])
    {'pearson': 0.9819805060619657}
"""


class PearsonR(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # float64 so the score is not computed on float32-rounded values
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions: list[float], references: list[float]) -> dict[str, float]:
        import numpy as np

        x = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(references, dtype=np.float64)
        if x.size < 2:
            raise ValueError("pearson correlation needs at least two predictions")
        xm = x - x.mean()
        ym = y - y.mean()
        # Scale by the largest magnitude first so the sums of squares cannot overflow.
        xs = np.abs(xm).max()
        ys = np.abs(ym).max()
        if xs == 0 or ys == 0:
            return {"pearson": float("nan")}
        xm /= xs
        ym /= ys
        r = float(np.dot(xm, ym) / np.sqrt(np.dot(xm, xm) * np.dot(ym, ym)))
        return {"pearson": max(-1.0, min(1.0, r))}
