"""Houlsby bottleneck adapters (Houlsby et al., "Parameter-Efficient Transfer Learning for NLP",
ICML 2019) for greenprune's BERTs: ``modules`` builds and places them, ``io`` saves and loads one
task's adapters (+ LayerNorms + head) so a single frozen backbone can serve several tasks.

The names below are imported on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BottleneckAdapter": "modules", "adapter_params": "modules", "adapter_specs": "modules",
    "insert_adapters": "modules", "iter_adapters": "modules", "remove_adapters": "modules",
    "task_parameter_names": "modules", "transfer_adapters": "modules",
    "load_adapters": "io", "load_with_adapters": "io", "save_adapters": "io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
