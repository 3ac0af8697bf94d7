"""``toy-magnitude``: an example one-shot greenprune compressor. It zeroes the smallest-magnitude entries
of every encoder projection (Q, K, V, attention output, FFN up and down; weights and biases) so that
a share ``--sparsity`` of each is zero. Nothing is removed: the student keeps its shape, so the
results show unstructured sparsity at the target and structured sparsity 0, and the inference
benchmark shows what zeros alone buy in dense kernels (a speed-up near 1x).

The zeros stay only while nothing trains the encoder: pair it with a tuner that leaves the encoder
weights alone (``--tuner adapter``); ``--tuner finetune`` trains them and refills the zeros (the
report then shows the lower sparsity it measured).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    RunContext,
    hookimpl,
    layer_projections,
)


class MagnitudeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no options yet; a typo still fails before any model loads


class Magnitude(Compressor):
    def __init__(self, options: MagnitudeOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        import torch  # heavy imports inside functions: `greenprune --help` stays fast

        assert job.sparsity is not None  # needs_sparsity: the core asks for --sparsity before any work
        # job.current may be the fine-tuned teacher itself, used again later: change a copy.
        student = job.current.clone(origin=f"compressed:toy-magnitude@{job.sparsity:g}")
        zeroed = total = 0
        with torch.no_grad():
            for projections in layer_projections(student.model):  # any encoder family the core knows
                for module in projections.values():
                    if module is None:  # a block an earlier compressor removed
                        continue
                    for t in (module.weight, module.bias):
                        if t is None:
                            continue
                        k = round(job.sparsity * t.numel())
                        if k:
                            # the k smallest |t|: exactly k zeros per tensor, whatever the ties
                            t.view(-1)[t.abs().view(-1).topk(k, largest=False).indices] = 0
                        zeroed, total = zeroed + k, total + t.numel()
        # details land in the phase record (results.jsonl); the core measures the student's sizes itself
        return PhaseOutput(student, {"target_sparsity": job.sparsity, "zeroed": zeroed, "encoder_params": total})


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("toy-magnitude", factory=Magnitude, options=MagnitudeOptions, needs_sparsity=True,
                       description="one-shot magnitude pruning: zero the smallest encoder weights to --sparsity"))
