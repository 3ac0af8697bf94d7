"""The ``cofi`` compressor: CoFi structured pruning (Xia, Zhong, Chen, "Structured Pruning Learns
Compact and Accurate Models", ACL 2022) on current transformers, for any BERT depth and width.

Hard-concrete gates on heads, attention blocks, FFN units, FFN blocks and hidden dimensions learn
with the task or distillation loss plus a Lagrangian term that drives the expected sparsity to the
target; the final deterministic masks are then applied physically, giving a smaller model that
saves and loads as greenprune's compact BERT.

The target sparsity is relative to the model CoFi receives (the fine-tuned teacher, or the
previous compressor's student in a chain); results also report sparsity relative to the teacher.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    RunContext,
    TrainOverrides,
    UserError,
    hookimpl,
)

GateKind = Literal["head", "mha", "int", "ffn", "hidden"]
ALL_GATES: tuple[GateKind, ...] = ("head", "mha", "int", "ffn", "hidden")

#: the targets of a bench that gives no --sparsity (one run each)
DEFAULT_SPARSITIES = (0.5, 0.9)


class CofiOptions(TrainOverrides):
    """``epochs`` (pruning epochs) and ``learning_rate`` (model weights) default to the run's."""

    mask_lr: float = Field(0.1, gt=0, description="learning rate of the gates' log-alpha")
    lambda_lr: float = Field(0.1, gt=0, description="learning rate (ascent) of lambda_1 and lambda_2")
    sparsity_warmup: float = Field(0.5, ge=0, le=1, description="share of pruning steps over which the target rises")
    sparsity_warmup_steps: int | None = Field(None, ge=0, description="overrides sparsity_warmup")
    prepruning_steps: int = Field(0, ge=0, description="plain fine-tuning steps before the gates start")
    prune: list[GateKind] = Field(default_factory=lambda: list(ALL_GATES),
                                  min_length=1, description="which gate families to learn")
    mask_init: dict[GateKind, float] | None = Field(None, description="initial log-alpha mean per family")
    distill: bool = Field(True, description="distil from the fine-tuned teacher; false = hard labels only")
    temperature: float = Field(2.0, gt=0)
    alpha_pred: float = Field(0.5, ge=0, description="prediction distillation weight")
    alpha_layer: float = Field(0.5, ge=0, description="layer distillation weight")
    alpha_hard: float = Field(0.0, ge=0, description="hard-label weight when distilling")
    calibrate_final: bool = Field(True, description="shift all gates by one constant so the final masks land on "
                                  "the target (see cofi/final_masks.py); false = CoFi's per-group rounding as is")
    align_widths: int = Field(8, ge=1, le=256, description="round each layer's kept FFN units and the kept hidden "
                              "dims of the final model to multiples of this (GEMMs on odd sizes are slow; see "
                              "cofi/final_masks.py); 1 = CoFi's per-group rule as is")
    final_tolerance: float = Field(0.005, ge=0, lt=1, description="leave CoFi's final masks alone within this "
                                   "distance of the target")
    distill_layers: list[int] | None = Field(None, description="teacher hidden-state indices (1..L) to match")


class Cofi(Compressor):
    def __init__(self, options: CofiOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.cofi.pruning import prune

        if job.sparsity is None:
            raise UserError("cofi needs a target: pass --sparsity S with S in (0, 1), e.g. --sparsity 0.6")
        return prune(ctx, job, self.options)


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    from greenprune_builtins.cofi.report import PHASE_REPORT

    # A CoFi student is a compact model without gates: a second CoFi pass has nothing to prune with.
    # Without --sparsity: a moderate and an aggressive target, so one bench shows both what pruning
    # keeps and where it starts to cost accuracy.
    register(Component("cofi", factory=Cofi, options=CofiOptions, needs_sparsity=True, accepts_own_output=False,
                       phase_report=PHASE_REPORT, default_sparsities=DEFAULT_SPARSITIES,
                       description="CoFi structured pruning (L0 masks, Lagrangian control, distillation); "
                                   "without --sparsity it runs at 0.5 and 0.9"))
