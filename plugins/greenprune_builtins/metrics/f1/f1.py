"""Binary F1 (positive label 1) as an offline ``evaluate`` metric, as GLUE reports for MRPC and QQP.

Loaded with ``evaluate.load(<this folder>)`` so no Hub access is needed. The evaluate import
scanner reads this file line by line, so every top-level import stays on a line of its own.
"""

from __future__ import annotations

import datasets
import evaluate

_DESCRIPTION = """
Binary F1 score of the positive class (label 1): the harmonic mean of precision and recall,
F1 = 2 * TP / (2 * TP + FP + FN). When there is neither a predicted nor a true positive the score
is 0.0 (scikit-learn's ``zero_division=0``).
"""

_CITATION = """
@article{van1979information,
  title={Information Retrieval},
  author={van Rijsbergen, C. J.},
  publisher={Butterworths},
  year={1979}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels, each 0 or 1.
    references (list of int): gold labels, each 0 or 1.
Returns:
    f1 (float): F1 of the positive label 1, in [0, 1].
Example:
    >>> metric = evaluate.load("path/to/f1")
    >>> metric.compute(predictions=[1, 1, 0], references=[1, 0, 0])
    {'f1': 0.6666666666666666}
"""


class F1(evaluate.Metric):
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
        # Binary F1 is undefined for other labels; fail loudly rather than score them as negatives.
        bad = np.setdiff1d(np.union1d(preds, refs), [0, 1])
        if bad.size:
            raise ValueError(f"binary f1 expects labels 0 and 1, got {bad.tolist()}")
        tp = int(np.sum((preds == 1) & (refs == 1)))
        fp = int(np.sum((preds == 1) & (refs == 0)))
        fn = int(np.sum((preds == 0) & (refs == 1)))
        denom = 2 * tp + fp + fn
        return {"f1": 2 * tp / denom if denom else 0.0}
