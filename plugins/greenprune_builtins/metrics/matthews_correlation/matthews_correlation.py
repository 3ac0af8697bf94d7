"""Matthews correlation coefficient as an offline ``evaluate`` metric, as GLUE reports for CoLA.

Loaded with ``evaluate.load(<this folder>)`` so no Hub access is needed. The evaluate import
scanner reads this file line by line, so every top-level import stays on a line of its own.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

_DESCRIPTION = """
The Matthews correlation coefficient (MCC) measures the quality of classifications from the whole
confusion matrix, so it stays informative on unbalanced classes. It ranges from -1 (total
disagreement) through 0 (no better than chance) to +1 (perfect). The multi-class form (Gorodkin's
R_K) is used; for two classes it equals the usual binary MCC. When the score is undefined (all
predictions or all references are one class) it is 0.0, as in scikit-learn.
"""

_CITATION = """
@article{matthews1975comparison,
  title={Comparison of the predicted and observed secondary structure of T4 phage lysozyme},
  author={Matthews, Brian W.},
  journal={Biochimica et Biophysica Acta (BBA) - Protein Structure},
  volume={405},
  number={2},
  pages={442--451},
  year={1975}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): gold class ids, one per prediction.
Returns:
    matthews_correlation (float): MCC in [-1, 1].
Example:
    >>> metric = evaluate.load("path/to/matthews_correlation")
    >>> metric.compute(predictions=[1, 0, 1, 1], references=[1, 0, 0, 1])
    {'matthews_correlation': 0.5773502691896258}
"""


class MatthewsCorrelation(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions: list[int], references: list[int]) -> dict[str, float]:
        import numpy as np

        preds = np.asarray(predictions, dtype=np.int64)
        refs = np.asarray(references, dtype=np.int64)
        if preds.size == 0:
            raise ValueError("matthews_correlation needs at least one prediction")
        classes, encoded = np.unique(np.concatenate([refs, preds]), return_inverse=True)
        k = len(classes)
        confusion: Any = np.zeros((k, k), dtype=np.float64)
        np.add.at(confusion, (encoded[: refs.size], encoded[refs.size :]), 1.0)
        # Floats throughout: the products of counts overflow int64 on large dev sets.
        true_counts = confusion.sum(axis=1)
        pred_counts = confusion.sum(axis=0)
        correct = np.trace(confusion)
        n = confusion.sum()
        cov_tp = correct * n - true_counts @ pred_counts
        cov_pp = n * n - pred_counts @ pred_counts
        cov_tt = n * n - true_counts @ true_counts
        denom = np.sqrt(cov_pp * cov_tt)
        return {"matthews_correlation": float(cov_tp / denom) if denom else 0.0}
