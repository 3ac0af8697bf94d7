"""LoRA (Hu et al., 2021) layers put into a model in place with peft's ``inject_adapter_in_model``.

In place (no ``PeftModel`` wrapper): the model keeps its class, so evaluation, CoFi's masked forward
and the compact BERT run it as before; a wrapped projection keeps its name and answers ``weight`` /
``bias`` with its base layer's (which greenprune's size accounting relies on).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

ADAPTER = "default"
#: config key recording the LoRA layers of a student saved unmerged
CONFIG_KEY = "greenprune_lora"


def lora_layers(model: nn.Module) -> dict[str, Any]:
    """Qualified name -> peft LoRA layer, for every LoRA-wrapped module of ``model``."""
    from peft.tuners.lora import LoraLayer

    return {n: m for n, m in model.named_modules() if isinstance(m, LoraLayer)}


def inject(model: nn.Module, spec: dict[str, Any]) -> int:
    """Wrap ``spec["target_modules"]`` of ``model`` with LoRA (rank, alpha, dropout); idempotent.
    Returns how many modules were wrapped now."""
    from peft import LoraConfig, inject_adapter_in_model

    if lora_layers(model):
        return 0
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1]
             in spec["target_modules"]]
    if not names:
        return 0
    config = LoraConfig(r=spec["rank"], lora_alpha=spec["alpha"], lora_dropout=spec["dropout"],
                        target_modules=names, bias="none")
    inject_adapter_in_model(config, model, adapter_name=ADAPTER)
    if hasattr(model, "config"):  # so a student saved unmerged reloads with its LoRA layers
        setattr(model.config, CONFIG_KEY, dict(spec))
    return len(names)


def lora_params(model: nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)


def head_names(model: nn.Module) -> list[str]:
    """The task's head, trained with LoRA as Hu et al. train RoBERTa's classification head (its dense +
    tanh and output projection): the classifier / QA span head and, for a sentence classifier, the
    pooler, which is BERT's dense + tanh in front of the classifier (and where a compact model keeps
    RoBERTa's). Frozen, a sentence-embedding BERT's pooler hands the classifier an almost constant
    vector (MiniLM on STS-B: per-dimension spread 0.05 across pairs vs 0.28 for its input), and LoRA on
    STS-B learned the label mean only (Pearson 0.04 after 3 epochs)."""
    names = [n for n, _ in model.named_parameters()]
    classifier = any(n.startswith("classifier.") for n in names)
    return [n for n in names if n.startswith(("classifier.", "qa_outputs.")) or (classifier and ".pooler." in f".{n}")]


def carry(before: nn.Module, after: nn.Module, spec: dict[str, Any], events: dict[str, Any]) -> int:
    """Put ``before``'s LoRA weights into ``after`` (a model a compressor rebuilt), each pair following
    its projection's surgery event: ``B A`` changes exactly as the projection's weight did
    (``A`` keeps the kept inputs times their scale, ``B`` the kept outputs times theirs); a module the
    rebuild moved (the event's ``source``) takes the pair of its name before."""
    source = lora_layers(before)
    if not source:
        return 0
    # A pair on a module the rebuild moved to a name the targets do not match (RoBERTa's head
    # ``classifier.out_proj`` becomes the compact model's ``classifier``) would be dropped: that name
    # joins the targets (and the spec a student saved unmerged records, so it reloads the same).
    renamed = {event.module.rsplit(".", 1)[-1] for event in events.values()
               if event.source is not None and event.source in source}
    inject(after, {**spec, "target_modules": sorted(set(spec["target_modules"]) | renamed)})
    moved = 0
    with torch.no_grad():
        for name, layer in lora_layers(after).items():
            event = events.get(name)
            src = source.get(event.before if event is not None else name)
            if src is None:
                continue
            a, b = src.lora_A[ADAPTER].weight, src.lora_B[ADAPTER].weight
            if event is not None:
                a, b = event.select_in(a, dim=1), event.select_out(b, dim=0)
            layer.lora_A[ADAPTER].weight.copy_(a)
            layer.lora_B[ADAPTER].weight.copy_(b)
            moved += 1
    return moved


def merge(model: nn.Module) -> int:
    """Fold every LoRA pair into its base weight and put the base Linear back: inference then costs
    exactly what the base model costs. Returns how many were merged."""
    from torch.nn.utils import parametrize

    layers = lora_layers(model)
    for name, layer in layers.items():
        base = layer.get_base_layer()
        if parametrize.is_parametrized(base, "weight"):
            # A constrained base weight (an unstructured pruner's mask) is computed, not stored: peft
            # would add the update to a temporary. Fold it first; the merged weight is then exactly the
            # trained function, its zeros filled by the update wherever B A is non-zero.
            parametrize.remove_parametrizations(base, "weight", leave_parametrized=True)
        layer.merge(adapter_names=[ADAPTER])
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer.get_base_layer())
    if layers and hasattr(model, "config") and hasattr(model.config, CONFIG_KEY):
        delattr(model.config, CONFIG_KEY)
    return len(layers)
