"""``lora``: an example greenprune tuner that adds LoRA pairs (Hu et al., 2021, with peft) beside the
encoder's projections and trains only them and the task head.

It shows what a tuner that adds modules needs, all through ``greenprune.api``:

* ``prepare`` adds the pairs (once: it runs in every training phase after the teacher, CoFi's
  included, so they train while a compressor prunes) and picks the trainable weights;
* ``state_keys`` names the pairs' state, which a compressor rebuilding the model leaves out, and
  ``on_surgery`` carries them into the rebuilt model: A's columns follow the projection's kept inputs,
  B's rows its kept outputs, each times the scale folded into the weights. It never sees a mask;
* the pairs' shape is written into the model's config, and ``greenprune_load_student`` puts them back
  when a saved student is loaded (``greenprune verify``), since plain ``from_pretrained`` drops them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from greenprune.api import (
    Component,
    ModelBundle,
    PhaseOutput,
    RunContext,
    SurgeryEvent,
    Task,
    TaskData,
    TrainOverrides,
    Tuner,
    by_module,
    hookimpl,
    phase_config,
    train_phase,
)

#: the config.json entry that says a saved model carries these LoRA pairs, and their shape
# Its own key: the built-in `lora` claims saved students whose config carries "greenprune_lora".
CONFIG_KEY = "greenprune_toy_lora"
HEADS = ("classifier", "qa_outputs")


class LoraOptions(TrainOverrides):  # epochs and learning_rate, like every component that trains
    r: int = Field(8, ge=1, description="rank of each LoRA pair")
    alpha: float = Field(16.0, gt=0, description="scale: the pair adds alpha / r * B A x")
    targets: list[str] = Field(["query", "key", "value", "dense"], min_length=1,
                               description="projection names (last part of the module name) that get a pair")
    learning_rate: float = Field(1e-3, gt=0, description="LoRA pairs want a larger rate than a fine-tune; "
                                 "also used while a compressor trains them")


def inject(model: Any, spec: dict[str, Any]) -> None:
    """Add LoRA pairs to ``model`` as ``spec`` says (B starts at zero: the model is unchanged)."""
    import peft

    config = peft.LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], target_modules=spec["targets"], lora_dropout=0.0)
    peft.inject_adapter_in_model(config, model)
    setattr(model.config, CONFIG_KEY, spec)  # saved in config.json with the model


def lora_layers(model: Any) -> dict[str, Any]:
    import peft

    return {n: m for n, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)}


class Lora(Tuner):
    def __init__(self, options: LoraOptions) -> None:
        self.options = options
        self.spec = {"r": options.r, "alpha": options.alpha, "targets": list(options.targets)}
        #: pairs a compressor's surgery carried over that had trained already (B no longer zero)
        self.trained_before_tuning = 0

    def prepare(self, bundle: ModelBundle) -> None:
        if not lora_layers(bundle.model):
            inject(bundle.model, self.spec)
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(".lora_" in name or name.startswith(HEADS))

    def train_overrides(self) -> dict[str, Any]:
        return {"learning_rate": self.options.learning_rate}

    def state_keys(self, model: Any) -> set[str]:
        return {k for k in model.state_dict() if ".lora_" in k}

    def on_surgery(self, before: Any, after: Any, events: list[SurgeryEvent]) -> None:
        import torch

        old = lora_layers(before)
        if not old:
            return  # nothing of ours yet (prepare adds the pairs later)
        changed = by_module(events)
        inject(after, getattr(before.config, CONFIG_KEY, self.spec))
        with torch.no_grad():
            for name, new in lora_layers(after).items():
                event = changed.get(name) or SurgeryEvent(name)
                if event.before not in old or event.removed:  # ``before``: its name before a move
                    continue  # a new place keeps B = 0: it changes nothing
                a, b = old[event.before].lora_A["default"].weight, old[event.before].lora_B["default"].weight
                new.lora_A["default"].weight.copy_(event.select_in(a, dim=1))
                new.lora_B["default"].weight.copy_(event.select_out(b, dim=0))
                self.trained_before_tuning += int(bool(b.abs().sum() > 0))

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        self.prepare(bundle)
        out = train_phase(ctx, bundle, task, data, phase_config(ctx, self.options.overrides()),
                          description="tune: lora")
        out.details.update(trainable_params=sum(p.numel() for p in bundle.model.parameters() if p.requires_grad),
                           lora_pairs=len(lora_layers(bundle.model)),
                           pairs_trained_before_tuning=self.trained_before_tuning)
        return out


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("toy-lora", factory=Lora, options=LoraOptions,
                       description="LoRA pairs (peft) beside the encoder projections; survives structured pruning"))


@hookimpl
def greenprune_load_student(path: Path) -> Any:
    """A saved student with LoRA pairs: load the backbone, put the pairs back, load their weights."""
    spec = json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get(CONFIG_KEY)
    if not spec:
        return None  # not ours
    from safetensors.torch import load_file
    from transformers.utils import logging as hf_logging

    from greenprune.api import load_compact

    # The backbone loads without the pairs, so transformers lists every wrapped projection's weight as
    # missing (it is saved under ``<name>.base_layer``): quiet while the full state dict is loaded below.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        try:
            model = load_compact(path)  # a structurally pruned student
        except ValueError:  # a dense transformers model
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained(str(path))
    finally:
        hf_logging.set_verbosity(verbosity)
    # peft moves a wrapped projection's weight to ``<name>.base_layer.weight``: load every tensor into
    # the model with its pairs back in place, not only the pairs.
    inject(model, spec)
    state: dict[str, Any] = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        state.update(load_file(str(file)))
    loaded = model.load_state_dict(state, strict=False)
    if loaded.unexpected_keys or loaded.missing_keys:
        raise ValueError(f"{path}: saved weights do not fit the model with its LoRA pairs (missing "
                         f"{loaded.missing_keys[:3]}, unexpected {loaded.unexpected_keys[:3]})")
    return model.eval()
