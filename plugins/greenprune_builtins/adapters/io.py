"""Saving and loading one task's adapters apart from the backbone, and whole models with adapters.

A "task adapter" (Houlsby et al., ICML 2019, §2.1 / §3: one shared frozen backbone, a few per-task
parameters) is the adapters *plus* the LayerNorms and the task head, because those train per task
too. ``save_adapters`` writes just those tensors (``adapters.safetensors``) and a small
``adapter_config.json`` (task name, each adapter's shape and nonlinearity, tensor names), so one frozen
backbone can switch tasks with ``load_adapters``.

A whole model with adapters saves with plain ``save_pretrained`` (the adapters are ordinary submodules,
and their shapes are in ``config.greenprune_adapters``), but plain ``from_pretrained`` builds the
architecture without adapters and drops their weights as unexpected keys. ``load_with_adapters``
loads the backbone, re-inserts the adapters from the config, then loads their weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from greenprune_builtins.adapters.modules import (
    ATTR,
    CONFIG_KEY,
    adapter_specs,
    insert_from_spec,
    remove_adapters,
    task_parameter_names,
)

WEIGHTS = "adapters.safetensors"
CONFIG = "adapter_config.json"
FORMAT = 1


def save_adapters(model: Any, path: str | Path, task_name: str, include_pooler: bool = False) -> Path:
    """Write ``model``'s task adapter (adapters + LayerNorms + head [+ pooler]) to the folder ``path``."""
    from safetensors.torch import save_file

    specs = adapter_specs(model)
    if not specs:
        raise ValueError("the model has no adapters to save; call insert_adapters first")
    params = dict(model.named_parameters())
    names = task_parameter_names(model, layernorm=True, pooler=include_pooler)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # Clone to contiguous CPU tensors: safetensors refuses shared or non-contiguous storage.
    save_file({n: params[n].detach().cpu().contiguous().clone() for n in names}, str(path / WEIGHTS))
    meta = {"format": FORMAT, "task": task_name, "adapters": specs, "tensors": names,
            "model_type": getattr(getattr(model, "config", None), "model_type", None)}
    (path / CONFIG).write_text(json.dumps(meta, indent=2))
    return path


def read_adapter_config(path: str | Path) -> dict[str, Any]:
    file = Path(path) / CONFIG
    if not file.exists():
        raise FileNotFoundError(f"{path} holds no saved adapters ({CONFIG} is missing)")
    meta = json.loads(file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{file}: unsupported adapter format {meta.get('format')!r}")
    return meta


def _copy_into(model: Any, tensors: dict[str, Any], source: str) -> None:
    import torch

    params = dict(model.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise ValueError(f"{source}: the model has no parameters {missing[:5]} (different architecture?)")
    with torch.no_grad():
        for name, value in tensors.items():
            target = params[name]
            if target.shape != value.shape:
                raise ValueError(f"{source}: {name} has shape {tuple(value.shape)}, model has {tuple(target.shape)}")
            target.copy_(value.to(device=target.device, dtype=target.dtype))


def load_adapters(model: Any, path: str | Path) -> str:
    """Switch ``model`` to the task adapter saved in ``path``; return its task name.

    Any adapters already present are replaced (so the model carries exactly the saved ones), and the
    saved LayerNorms and head overwrite the model's. The backbone's other weights are untouched.
    """
    from safetensors.torch import load_file

    meta = read_adapter_config(path)
    remove_adapters(model)
    insert_from_spec(model, meta["adapters"])
    _copy_into(model, load_file(str(Path(path) / WEIGHTS)), str(path))
    return str(meta["task"])


def load_with_adapters(path: str | Path, model_class: Any = None, **kwargs: Any) -> Any:
    """Load a ``save_pretrained`` folder together with its adapters (see the module docstring).

    :param model_class: the class to load with; default from the config (``architectures``, or the
        compact BERT for ``model_type == "greenprune-bert"``).
    :param kwargs: passed to ``from_pretrained``.
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    path = Path(path)
    if model_class is None:
        from greenprune.api import register_compact
        from greenprune.saved import model_class as class_for

        register_compact()  # so AutoConfig reads a compact encoder's config
        config = AutoConfig.from_pretrained(str(path))
        model_class = class_for(getattr(config, "architectures", None), getattr(config, "model_type", None))
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the adapters' "unexpected keys" are loaded just below
    try:
        model = model_class.from_pretrained(str(path), **kwargs)
    finally:
        hf_logging.set_verbosity(previous)
    specs = getattr(model.config, CONFIG_KEY, None) or {}
    if not specs:
        return model
    insert_from_spec(model, specs)
    tensors: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors.update({k: v for k, v in load_file(str(file)).items() if f".{ATTR}." in k})
    expected = {n for n, _ in model.named_parameters() if f".{ATTR}." in n}
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors))[:3], sorted(set(tensors) - expected)[:3]
        raise ValueError(f"{path}: adapter weights do not match config.{CONFIG_KEY} "
                         f"(missing {missing}, extra {extra})")
    _copy_into(model, tensors, str(path))
    return model
