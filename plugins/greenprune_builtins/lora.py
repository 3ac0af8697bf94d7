"""The ``lora`` tuner: LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021)
through peft, on a frozen backbone.

Each target projection (default Q and V, the paper's choice) gets a trainable low-rank update
``B A`` (rank ``rank``, scaled by ``alpha / rank``, with dropout on its input); with the task's head
(on BERT the classifier and the pooler in front of it) they are the only weights that train (under 1%
of MiniLM's). Like ``adapter`` it works in every
phase after the teacher: ``prepare`` injects LoRA into a compressor's student, so ``--compressor cofi
--tuner lora`` trains LoRA while CoFi prunes, and ``on_surgery`` slices each pair the way the
projection was sliced when CoFi physically shrinks the model. By default the pairs are merged into
the weights after tuning (``merge=true``), so inference costs exactly what the base model costs; with
``merge=false`` the student keeps them and reloads through this plugin.
"""

from __future__ import annotations

from typing import Any

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
    by_module,
    hookimpl,
    phase_config,
    student_class,
    train_phase,
)


class LoraOptions(TrainOverrides):
    rank: int = Field(8, ge=1, description="rank r of each update B A")
    alpha: float = Field(16, gt=0, description="the update is scaled by alpha / rank")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] = Field(["query", "value"], min_length=1, description="projection names to adapt "
                                      "(query, key, value, dense, ...)")
    # LoRA's few weights start with B = 0 and need a far larger step than full fine-tuning (Hu et al.
    # used 4e-4 to 5e-4 for RoBERTa-base on GLUE).
    learning_rate: float = Field(5e-4, gt=0, description="LoRA's learning rate, also while a compressor trains")
    merge: bool = Field(True, description="merge the updates into the weights after tuning (inference "
                        "then costs what the base model costs)")

    def spec(self) -> dict[str, Any]:
        return {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout,
                "target_modules": list(self.target_modules)}


class LoraTuner(Tuner):
    name = "lora"

    def __init__(self, options: LoraOptions) -> None:
        self.options = options

    def prepare(self, bundle: Any) -> None:
        """Inject LoRA if absent; then only the LoRA pairs and the task head train."""
        from greenprune_builtins.lora_ops.modules import head_names, inject

        inject(bundle.model, self.options.spec())
        trainable = set(head_names(bundle.model))
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(".lora_" in name or name in trainable)

    def train_overrides(self) -> dict[str, Any]:
        return {"learning_rate": self.options.learning_rate}

    def on_surgery(self, before: Any, after: Any, events: list[Any]) -> None:
        from greenprune_builtins.lora_ops.modules import carry

        carry(before, after, self.options.spec(), dict(by_module(events)))

    def state_keys(self, model: Any) -> set[str]:
        """The LoRA pairs' state-dict keys: not the architecture's, carried by :meth:`on_surgery`."""
        return {k for k in model.state_dict() if ".lora_" in k}

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.lora_ops.modules import lora_layers, lora_params, merge

        o = self.options
        self.prepare(bundle)
        out = train_phase(ctx, bundle, task, data, phase_config(ctx, o.overrides()), description="tune: lora")
        params = list(bundle.model.parameters())
        trainable, total = sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
        out.details.update(trainable_params=trainable, trainable_share=trainable / total, total_params=total,
                           lora_params=lora_params(bundle.model), lora_layers=len(lora_layers(bundle.model)),
                           lora=o.spec())
        if o.merge:
            out.details["merged"] = merge(bundle.model)
        return out


@hookimpl
def greenprune_register_tuners(register: Any) -> None:
    register(Component("lora", factory=LoraTuner, options=LoraOptions,
                       description="LoRA (peft): low-rank updates of Q and V + the task head on a frozen backbone; "
                       "merged into the weights after tuning"))


@hookimpl
def greenprune_load_student(path: Any) -> Any:
    """A student saved with its LoRA layers (``lora.merge=false``)."""
    import json
    from pathlib import Path

    from greenprune_builtins.lora_ops.io import load_unmerged
    from greenprune_builtins.lora_ops.modules import CONFIG_KEY

    config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    if not config.get(CONFIG_KEY):
        return None
    return load_unmerged(path, student_class(config.get("architectures"), config.get("model_type")))
