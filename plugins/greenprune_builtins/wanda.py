"""The ``wanda`` compressor: Wanda pruning (Sun et al., "A Simple and Effective Pruning Approach for
Large Language Models", 2023) of the encoder's projections.

A weight's score is ``|W_ij| * ||X_j||_2``: its magnitude times the L2 norm of the input feature it
multiplies, over the tokens of a calibration set drawn from the task's training split
(``calibration_samples`` examples, seeded). Scores are compared within each output row (each row keeps
the same number of weights), the paper's choice. Layers are pruned in order, each calibrated on the
outputs of the already-pruned layers before it. Modes: ``unstructured`` (``--sparsity`` per row) and
N:M semi-structured (``mode="2:4"``: in every 4 consecutive inputs of a row, the 2 highest scores
stay; the sparsity is then 1 - N/M whatever ``--sparsity`` says). No retraining is needed; the zeros
stay zero through later training as with ``magnitude``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    RunContext,
    encode,
    hookimpl,
    loader,
)

_N_M = re.compile(r"^(\d+):(\d+)$")


class WandaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calibration_samples: int = Field(128, ge=1, description="training examples whose activations are measured "
                                     "(the paper uses 128 sequences)")
    mode: str = Field("unstructured", description="unstructured (--sparsity per output row) or N:M, e.g. 2:4 "
                      "(N kept in every M consecutive inputs; sparsity 1 - N/M)")
    batch_size: int = Field(16, ge=1, description="calibration batch size")

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v == "unstructured":
            return v
        m = _N_M.match(v)
        if not m or not 0 < int(m[1]) < int(m[2]):
            raise ValueError(f"mode={v!r} is neither 'unstructured' nor N:M with 0 < N < M (e.g. '2:4')")
        return v

    def n_m(self) -> tuple[int, int] | None:
        m = _N_M.match(self.mode)
        return (int(m[1]), int(m[2])) if m else None


class Wanda(Compressor):
    name = "wanda"

    def __init__(self, options: WandaOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.magnitude import projections
        from greenprune_builtins.unstructured.apply import apply_masks, describe
        from greenprune_builtins.unstructured.calibration import input_norms, wanda_scores
        from greenprune_builtins.unstructured.select import n_of_m, per_row

        o, n_m = self.options, self.options.n_m()
        target = 1 - n_m[0] / n_m[1] if n_m else job.sparsity
        assert target is not None  # needs_sparsity: validation asked for --sparsity before any work
        sparsity: float = target
        student = job.current.clone(origin=f"compressed:{self.name}")
        batches = self._calibration(ctx, job, student)
        keep: dict[str, Any] = {}
        for group in projections(student.model):
            norms = input_norms(student.model, group, batches)
            chosen = {}
            for name, lin in group.items():
                scores = wanda_scores(lin.weight, norms[name])
                chosen[name] = n_of_m(scores, *n_m) if n_m else per_row(scores, sparsity)
            apply_masks(group, chosen)  # before the next layer is calibrated: it sees this layer pruned
            keep.update(chosen)
        details = describe(keep)
        ctx.progress.say(f"wanda ({o.mode}): {details['weight_sparsity']:.4f} of {details['scored_weights']} "
                         f"projection weights set to zero, calibrated on {len(batches)} batches")
        notes = []
        if n_m and job.sparsity is not None and abs(job.sparsity - sparsity) > 1e-9:
            notes.append(f"mode {o.mode} sets the sparsity to {sparsity:g}; --sparsity {job.sparsity:g} is not used")
            ctx.progress.say(f"[yellow]wanda: {notes[-1]}[/yellow]")
        # ``method``: how reports name this step (N:M is a pattern, not only a sparsity)
        method = f"wanda {o.mode}" if n_m else f"wanda {sparsity:g}"
        return PhaseOutput(student, {"mode": o.mode, "target": sparsity, "method": method, "calibration_examples": sum(
            int(b["input_ids"].shape[0]) for b in batches), "notes": notes, **details})

    def _calibration(self, ctx: Any, job: Any, student: Any) -> list[dict[str, Any]]:
        """Seeded calibration batches from the training split (labels dropped)."""
        import random

        train = job.data.train
        n = min(self.options.calibration_samples, len(train))
        picked = [train[i] for i in sorted(random.Random(f"{ctx.config.seed}:wanda").sample(range(len(train)), n))]
        features = encode(picked, student.tokenizer, job.task, ctx.config.train.max_length)
        return list(loader(features, student.tokenizer, self.options.batch_size, shuffle=False))


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("wanda", factory=Wanda, options=WandaOptions, needs_sparsity=True, default_sparsities=(0.5,),
                       description="Wanda pruning (|W| x input-activation norm, per output row), unstructured or "
                       "N:M (2:4), calibrated on training examples; without --sparsity it runs at 0.5"))
