"""Parametrized weights become plain weights before the student is measured and saved.

A plugin may constrain weights through ``torch.nn.utils.parametrize`` while later phases train
(e.g. unstructured pruners keep their zeros as ``weight = original * mask``, whatever trains next).
After the tuner, the core folds every parametrization into the weight it computes
(``leave_parametrized=True``): the student is evaluated, benchmarked and saved as an ordinary model,
without the per-forward cost of the parametrization or its extra tensors on disk.
"""

from __future__ import annotations

from typing import Any


def fold_parametrizations(model: Any) -> int:
    """Fold every parametrization of ``model`` into plain weights; return how many were folded."""
    from torch.nn.utils import parametrize

    folded = 0
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
                folded += 1
    return folded
