"""Saving and loading an int8 student.

``save_pretrained`` works unchanged (the int8 modules' state dicts are plain tensors); the config
records which modules are int8 (``config.greenprune_int8``). Loading builds the float architecture the
config names, puts empty int8 modules in those places, and loads the saved tensors into them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIG_KEY = "greenprune_int8"
FORMAT = 1


def mark(model: Any, linears: list[str], embeddings: list[str]) -> None:
    setattr(model.config, CONFIG_KEY, {"format": FORMAT, "linears": linears, "embeddings": embeddings})


def load_int8(path: str | Path, model_class: Any) -> Any:
    """The int8 student saved in ``path``, its float skeleton built with ``model_class``."""
    from safetensors.torch import load_file

    from greenprune_builtins.int8.modules import Int8Embedding, Int8Linear, set_module

    path = Path(path)
    config = model_class.config_class.from_pretrained(str(path))
    spec = getattr(config, CONFIG_KEY)
    if spec.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported int8 format {spec.get('format')!r}")
    model = model_class(config)
    for name in spec["embeddings"]:
        emb = model.get_submodule(name)
        set_module(model, name, Int8Embedding(emb.num_embeddings, emb.embedding_dim, emb.padding_idx))
    for name in spec["linears"]:
        lin = model.get_submodule(name)
        set_module(model, name, Int8Linear.empty(lin.in_features, lin.out_features, lin.bias is not None))
    state: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        state.update(load_file(str(file)))
    model.load_state_dict(state, strict=True)
    return model.eval()
