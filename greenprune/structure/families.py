"""Encoder families: where an encoder keeps its layers and, per layer, its six projections.

Size accounting, per-layer sizes and surgery find the projections through this description, never by
matching parameter names: a tuner that wraps a projection (peft's LoRA turns ``query`` into a module
whose weight lives at ``query.base_layer``) leaves the module at the same place, and its ``weight``
and ``bias`` still answer for the projection.

BERT and RoBERTa share the layout (RoBERTa is BERT's architecture with another embedding rule and
head); greenprune's compact encoder keeps it too, so one family object serves all three model types.
A new family is one more :class:`EncoderFamily` with its own paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The roles of the six projections of one encoder layer, in forward order.
ROLES = ("q", "k", "v", "attention_out", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class EncoderFamily:
    """One layout of transformer encoder, described by module paths (dotted, relative)."""

    name: str
    #: ``config.model_type`` values of this family
    model_types: tuple[str, ...]
    #: the encoder layers' ModuleList, relative to the base model (``model.base_model``)
    layers: str
    #: per role, the projection's path relative to one layer
    projections: dict[str, str]
    #: the compact classes' name stem (``Compact<stem>ForSequenceClassification``) and ``model_type``
    #: (``greenprune-<name>``); the backbone attribute is ``name`` (as in HF)
    class_stem: str
    #: position ids counted from the padding id on (RoBERTa) rather than from 0
    positions_after_padding: bool = False
    #: HF state-dict key prefixes renamed when converting to the compact encoder (old, new), e.g.
    #: RoBERTa's classification head ``classifier.dense`` is the compact model's pooler
    hf_key_map: tuple[tuple[str, str], ...] = ()

    @property
    def compact_model_type(self) -> str:
        return f"greenprune-{self.name}"

    def usable_positions(self, config: Any) -> int | None:
        """The longest input (tokens) the position embeddings of a model with ``config`` can index.
        Positions counted from the padding id on (RoBERTa: ids ``pad + 1 .. pad + n``) leave
        ``pad + 1`` rows unused, so a RoBERTa with 514 rows and padding id 1 reads 512 tokens."""
        positions = getattr(config, "max_position_embeddings", None)
        if not isinstance(positions, int):
            return None
        if not self.positions_after_padding:
            return positions
        pad = getattr(config, "pad_token_id", None)
        return positions - (pad if isinstance(pad, int) else 0) - 1


_BERT_LAYOUT = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "attention_out": "attention.output.dense",
    "ffn_up": "intermediate.dense",
    "ffn_down": "output.dense",
}

FAMILIES: tuple[EncoderFamily, ...] = (
    EncoderFamily("bert", ("bert", "greenprune-bert"), "encoder.layer", _BERT_LAYOUT, "Bert"),
    EncoderFamily("roberta", ("roberta", "greenprune-roberta"), "encoder.layer", _BERT_LAYOUT, "Roberta",
                  positions_after_padding=True,
                  hf_key_map=(("classifier.dense.", "roberta.pooler.dense."), ("classifier.out_proj.", "classifier."))),
)


def family_named(name: str) -> EncoderFamily:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise KeyError(f"no encoder family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")


def unwrap(model: Any) -> Any:
    """The transformers model inside a wrapper (peft's ``PeftModel`` offers ``get_base_model``)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def family_of(model: Any) -> EncoderFamily | None:
    """The family of ``model`` by its ``config.model_type``, else the first whose layer path exists."""
    model = unwrap(model)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    for family in FAMILIES:
        if _get(getattr(model, "base_model", model), family.layers) is not None:
            return family
    return None


def family_of_config(config: Any) -> EncoderFamily | None:
    """The family whose ``model_types`` hold ``config.model_type`` (None: no known family)."""
    model_type = getattr(config, "model_type", None)
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def usable_positions(config: Any) -> int | None:
    """The longest input a model with ``config`` reads (:meth:`EncoderFamily.usable_positions`);
    ``max_position_embeddings`` for a model of no known family, None without it."""
    family = family_of_config(config)
    if family is not None:
        return family.usable_positions(config)
    positions = getattr(config, "max_position_embeddings", None)
    return positions if isinstance(positions, int) else None


def _get(module: Any, path: str) -> Any:
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def encoder_layers(model: Any) -> list[Any]:
    """The encoder layers of ``model`` in order ([] when it is no known encoder)."""
    model = unwrap(model)
    family = family_of(model)
    if family is None:
        return []
    layers = _get(getattr(model, "base_model", model), family.layers)
    return list(layers) if layers is not None else []


def layer_projections(model: Any) -> list[dict[str, Any]]:
    """Per encoder layer, role -> projection module (None when the compact model removed it)."""
    family = family_of(model)
    if family is None:
        return []
    return [{role: _get(layer, path) for role, path in family.projections.items()} for layer in encoder_layers(model)]


def projection_names(model: Any) -> dict[str, tuple[int, str]]:
    """Qualified module name (as in ``model.named_modules()``) -> (layer index, role) of every projection."""
    by_id = {id(m): (i, role) for i, projs in enumerate(layer_projections(model))
             for role, m in projs.items() if m is not None}
    return {name: by_id[id(m)] for name, m in model.named_modules() if id(m) in by_id}
