"""Each encoder family's compact classes, derived from the family-neutral ones.

A family's classes differ only in names: ``model_type`` ``greenprune-<family>``, the backbone
attribute (HF's ``base_model_prefix``: ``bert``, ``roberta``) and the class names
(``Compact<Stem>Config``, ``Compact<Stem>Model``, ``Compact<Stem>ForSequenceClassification``,
``Compact<Stem>ForQuestionAnswering``). The BERT family's names are those greenprune saved before
the layer was neutral, so earlier saved students load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from greenprune.structure.compact.config import CompactEncoderConfig
from greenprune.structure.compact.model import CompactEncoderForSequenceClassification, CompactEncoderModel
from greenprune.structure.compact.qa import CompactEncoderForQuestionAnswering
from greenprune.structure.families import FAMILIES, EncoderFamily, family_named


@dataclass(frozen=True)
class CompactClasses:
    family: EncoderFamily
    config: type[CompactEncoderConfig]
    model: type[CompactEncoderModel]
    sequence: type[CompactEncoderForSequenceClassification]
    qa: type[CompactEncoderForQuestionAnswering]

    def all(self) -> tuple[type, ...]:
        return (self.config, self.model, self.sequence, self.qa)


@cache
def compact_classes(family: str) -> CompactClasses:
    """The compact classes of ``family`` (built once per process: transformers keys its Auto
    registries by class, so one class per name)."""
    fam = family_named(family)
    stem = fam.class_stem

    def derive(base: type, suffix: str, attrs: dict[str, Any]) -> Any:
        cls = type(f"Compact{stem}{suffix}", (base,), {"__module__": __name__, **attrs})
        globals()[cls.__name__] = cls  # importable by name, so instances pickle
        return cls

    # Its own ``__init__`` entry: transformers turns a config subclass without one into a dataclass
    # whose generated ``__init__`` would skip ours.
    config = derive(CompactEncoderConfig, "Config", {"model_type": fam.compact_model_type, "family": fam.name,
                                                     "__init__": CompactEncoderConfig.__init__})
    heads = {"config_class": config, "base_model_prefix": fam.name}
    return CompactClasses(fam, config, derive(CompactEncoderModel, "Model", heads),
                          derive(CompactEncoderForSequenceClassification, "ForSequenceClassification", heads),
                          derive(CompactEncoderForQuestionAnswering, "ForQuestionAnswering", heads))


def every_family() -> list[CompactClasses]:
    return [compact_classes(f.name) for f in FAMILIES]


def class_named(name: str) -> type | None:
    """A compact class by its name (as a saved config's ``architectures`` lists it), else None."""
    for classes in every_family():
        for cls in classes.all():
            if cls.__name__ == name:
                return cls
    return None


def classes_of(model_or_config: Any) -> CompactClasses | None:
    """The compact classes of a compact model, config or ``model_type`` string (None for anything else)."""
    model_type = (model_or_config if isinstance(model_or_config, str)
                  else getattr(getattr(model_or_config, "config", model_or_config), "model_type", None))
    for classes in every_family():
        if classes.family.compact_model_type == model_type:
            return classes
    return None
