"""The ``adapter`` tuner: Houlsby bottleneck adapters on a frozen backbone.

Houlsby et al., "Parameter-Efficient Transfer Learning for NLP" (ICML 2019): two small bottleneck
adapters per transformer layer, and only the adapters, the LayerNorms and the task's new top layer
train; the pretrained weights stay frozen and shared between tasks. With the ``none`` compressor the
tuner receives the *pretrained* model, which gives the paper's comparison with full fine-tuning; after
a compressor it trains adapters on the compressed student.

``prepare`` runs in every training phase after the teacher (compressors call it on their student), so
with this tuner a compressor trains adapters + LayerNorms + head too. It is idempotent: adapters
already present are kept.

BERT's pooler is *not* trained by default: it is pretrained (not a new top-level layer), Houlsby's
recipe keeps it frozen, and at hidden 384 it would add 148k trainable weights, more than the 12
adapters of MiniLM together (about 226k). ``train_pooler=true`` trains it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from greenprune.api import (
    Component,
    ModelBundle,
    PhaseOutput,
    RunContext,
    Task,
    TaskData,
    TrainOverrides,
    Tuner,
    hookimpl,
    phase_config,
    train_phase,
)


class AdapterOptions(TrainOverrides):
    bottleneck: int | None = Field(None, gt=0, description="adapter width; default hidden / reduction_factor")
    reduction_factor: float = Field(16, gt=0, description="hidden / bottleneck when bottleneck is not set")
    nonlinearity: Literal["relu", "gelu", "tanh", "swish"] = "gelu"
    # Adapters start at the identity and are few and small, so they need a far larger step than full
    # fine-tuning (5e-5); Houlsby et al. swept 3e-5..3e-3 on GLUE and 1e-3 sits in the good range.
    learning_rate: float = Field(1e-3, gt=0, description="adapters' learning rate, also while a compressor trains")
    train_layernorm: bool = Field(True, description="train the LayerNorms, as Houlsby et al. do")
    train_pooler: bool = Field(False, description="also train BERT's pretrained pooler")


class AdapterTuner(Tuner):
    name = "adapter"

    def __init__(self, options: AdapterOptions) -> None:
        self.options = options

    def prepare(self, bundle: ModelBundle) -> None:
        """Insert adapters if absent, then freeze everything but adapters, LayerNorms and the head."""
        from greenprune_builtins.adapters.modules import insert_adapters, task_parameter_names

        o = self.options
        insert_adapters(bundle.model, o.bottleneck, o.reduction_factor, o.nonlinearity)
        trainable = set(task_parameter_names(bundle.model, layernorm=o.train_layernorm, pooler=o.train_pooler))
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(name in trainable)

    def train_overrides(self) -> dict[str, Any]:
        """What a compressor's training should change while adapters are the trainable weights."""
        return {"learning_rate": self.options.learning_rate}

    def on_surgery(self, before: Any, after: Any, events: list[Any]) -> None:
        """Carry the adapters into the rebuilt model, each following its block's projection."""
        from greenprune_builtins.adapters.modules import transfer_adapters

        transfer_adapters(before, after, events)

    def state_keys(self, model: Any) -> set[str]:
        """The adapters' own state-dict keys: not the architecture's, carried by :meth:`on_surgery`."""
        from greenprune_builtins.adapters.modules import adapter_state_keys

        return adapter_state_keys(model)

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.adapters.modules import adapter_params, adapter_specs

        self.prepare(bundle)
        out = train_phase(ctx, bundle, task, data, phase_config(ctx, self.options.overrides()),
                          description="tune: adapter")
        params = list(bundle.model.parameters())
        specs = adapter_specs(bundle.model)
        out.details.update(
            trainable_params=sum(p.numel() for p in params if p.requires_grad),
            adapter_params=adapter_params(bundle.model),
            total_params=sum(p.numel() for p in params),
            adapters=len(specs),
            bottleneck=sorted({s["bottleneck"] for s in specs.values()}),
        )
        return out


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("adapter", factory=AdapterTuner, options=AdapterOptions,
                       description="Houlsby adapters: train adapters, LayerNorms and head on a frozen backbone"))


@hookimpl
def greenprune_load_student(path: Any) -> Any:
    """A student saved with adapters: plain ``from_pretrained`` would drop them, so load them back."""
    import json
    from pathlib import Path

    from greenprune_builtins.adapters.io import load_with_adapters
    from greenprune_builtins.adapters.modules import CONFIG_KEY

    config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    if not config.get(CONFIG_KEY):
        return None
    return load_with_adapters(path).eval()
