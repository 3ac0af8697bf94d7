"""One task's LoRA weights on their own: the LoRA pairs plus the task head, beside a shared backbone.

``save_lora`` writes ``lora.safetensors`` and ``lora_config.json`` (task, rank, alpha, dropout, target
modules, tensor names); ``load_lora`` puts them into a backbone (injecting the layers if absent), so
one frozen backbone switches tasks. ``load_unmerged`` reloads a whole student saved with LoRA layers
(``lora.merge=false``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from greenprune_builtins.lora_ops.modules import CONFIG_KEY, head_names, inject, lora_layers

WEIGHTS = "lora.safetensors"
CONFIG = "lora_config.json"
FORMAT = 1


def task_tensor_names(model: Any) -> list[str]:
    return [n for n, _ in model.named_parameters() if ".lora_" in n] + head_names(model)


def save_lora(model: Any, path: str | Path, task: str, spec: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    if not lora_layers(model):
        raise ValueError("the model has no LoRA layers to save (merged already?)")
    params = dict(model.named_parameters())
    names = task_tensor_names(model)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({n: params[n].detach().cpu().contiguous().clone() for n in names}, str(path / WEIGHTS))
    (path / CONFIG).write_text(json.dumps({"format": FORMAT, "task": task, "lora": spec, "tensors": names}, indent=2))
    return path


def load_lora(model: Any, path: str | Path) -> str:
    """Switch ``model`` to the task's LoRA weights saved in ``path``; return the task name."""
    import torch
    from safetensors.torch import load_file

    meta = json.loads((Path(path) / CONFIG).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported LoRA format {meta.get('format')!r}")
    inject(model, meta["lora"])
    tensors = load_file(str(Path(path) / WEIGHTS))
    params = dict(model.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise ValueError(f"{path}: the model has no parameters {missing[:3]} (another architecture?)")
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value)
    return str(meta["task"])


def load_unmerged(path: str | Path, model_class: Any) -> Any:
    """A student saved with its LoRA layers: build the base model, inject, load every tensor."""
    from safetensors.torch import load_file

    path = Path(path)
    config = model_class.config_class.from_pretrained(str(path))
    model = model_class(config)
    inject(model, getattr(config, CONFIG_KEY))
    state: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        state.update(load_file(str(file)))
    model.load_state_dict(state, strict=True)
    return model.eval()
