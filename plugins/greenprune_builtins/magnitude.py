"""The ``magnitude`` compressor: unstructured magnitude pruning (Han et al., 2015) of the encoder's
projections (Q, K, V, attention output, FFN up and down).

The smallest weights by absolute value are set to zero, either ranked across every projection at once
(``scope=global``) or within each projection matrix (``scope=layer``, every matrix at ``--sparsity``).
Nothing is removed: the matrices keep their shapes, so the student is as large and as fast as the
teacher on dense hardware; the report shows its *unstructured* sparsity and a measured speed-up near
1x. The zeros stay zero through every later training phase (see
:mod:`greenprune_builtins.unstructured.keep_zeros`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    RunContext,
    UserError,
    hookimpl,
    layer_projections,
)


class MagnitudeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["layer", "global"] = Field(
        "layer", description="layer: every projection matrix loses the same share of its weights; global: one "
        "ranking across all projections (matrices with many small weights lose more)")


class Magnitude(Compressor):
    name = "magnitude"

    def __init__(self, options: MagnitudeOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.unstructured.apply import apply_masks, describe
        from greenprune_builtins.unstructured.select import global_choice, per_matrix

        student = job.current.clone(origin=f"compressed:{self.name}")
        linears = {name: lin for layer in projections(student.model) for name, lin in layer.items()}
        scores = {n: m.weight.detach().abs() for n, m in linears.items()}
        target = job.sparsity
        if target is None:  # needs_sparsity: validation asked for it first; this narrows the type
            raise UserError(f"{self.name} needs a target: pass --sparsity S with S in (0, 1)")
        if self.options.scope == "global":
            keep = global_choice(scores, target)
        else:
            keep = {n: per_matrix(s, target) for n, s in scores.items()}
        apply_masks(linears, keep)
        details = describe(keep)
        ctx.progress.say(f"magnitude ({self.options.scope}): {details['weight_sparsity']:.4f} of "
                         f"{details['scored_weights']} projection weights set to zero")
        return PhaseOutput(student, {"scope": self.options.scope, "target": job.sparsity, **details})


def projections(model: Any) -> list[dict[str, Any]]:
    """Per encoder layer, the projections an unstructured pruner scores (qualified name -> Linear)."""
    layers = [{id(m) for m in layer.values() if m is not None} for layer in layer_projections(model)]
    named = {id(m): name for name, m in model.named_modules()}
    return [{named[i]: m for m in model.modules() if (i := id(m)) in ids} for ids in layers]


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("magnitude", factory=Magnitude, options=MagnitudeOptions, needs_sparsity=True,
                       description="unstructured magnitude pruning of the encoder projections to --sparsity "
                       "(zeros in dense matrices: smaller only when compressed on disk, not faster)"))
