"""The ``distill`` compressor: drop encoder layers, then train the shallower student to imitate
the fine-tuned teacher (knowledge distillation, Hinton et al. 2015; with hidden-state distillation
as in Sun et al. 2019, PKD, and Jiao et al. 2020, TinyBERT).

The student starts as a copy of the model it compresses with only some layers kept (see
:func:`~greenprune_builtins.distill_student.select_layers`), so the compression (fewer layers) is
fixed up front and the training only recovers accuracy. The run's tuner decides which weights
train (``tuner.prepare``): all of them with ``finetune``, only adapters with an adapter tuner.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    PhaseReport,
    RunContext,
    TrainOverrides,
    UserError,
    encode,
    hookimpl,
    phase_config,
    train_phase,
)


class DistillOptions(TrainOverrides):
    """``epochs`` and ``learning_rate`` default to twice the run's ``train`` settings (an epoch
    covers the augmented copies too)."""

    layers: int | None = Field(None, ge=1, description="encoder layers kept; default a third of the "
                               "teacher's (12 -> 4, 6 -> 2), at least 2")
    selection: Literal["uniform", "first", "list"] = Field(
        "uniform", description="which layers: uniform (evenly spread, ending with the last), first, or list (keep)")
    keep: list[int] | None = Field(None, description="0-based teacher layers to keep (implies selection='list'); "
                                   "the choice can matter more than any training setting (MiniLM 6 -> 2 on STS-B: "
                                   "[1, 5] kept 93% of the teacher's Pearson, the uniform [2, 5] 77%); compare "
                                   "candidates with greenprune sweep --vary distill.keep=[...]")
    temperature: float = Field(2.0, gt=0, description="softmax temperature of the prediction distillation")
    alpha_kd: float = Field(1.0, ge=0, description="weight of the prediction distillation loss")
    alpha_hidden: float = Field(1.0, ge=0, description="weight of the hidden-state distillation loss (0: off)")
    alpha_hard: float = Field(0.0, ge=0, description="weight of the gold-label loss")
    augment: int = Field(0, ge=0, le=32, description="perturbed copies of each training example (tokens masked "
                         "or dropped) that the teacher scores through the distillation losses; needs alpha_hard=0")
    augment_mask_p: float = Field(0.1, ge=0, le=0.5, description="per token: chance a copy masks it")
    augment_drop_p: float = Field(0.1, ge=0, le=0.5, description="per token: chance a copy drops it")

    @field_validator("keep")
    @classmethod
    def _keep_is_a_set_of_layers(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("keep is empty; name at least one layer, e.g. keep=[3, 7, 11]")
        negative = [i for i in v if i < 0]
        if negative:
            raise ValueError(f"keep={v} has negative layer(s) {negative}; layers are 0-based")
        dups = sorted({i for i in v if v.count(i) > 1})
        if dups:
            raise ValueError(f"keep={v} repeats layer(s) {dups}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DistillOptions:
        if self.keep is not None:
            if "selection" not in self.model_fields_set:
                self.selection = "list"
            elif self.selection != "list":
                raise ValueError(f"keep={self.keep} needs selection='list' (got {self.selection!r})")
            if self.layers is not None and self.layers != len(self.keep):
                raise ValueError(f"layers={self.layers} but keep={self.keep} names {len(self.keep)} layers")
        elif self.selection == "list":
            raise ValueError("selection='list' needs keep=[...] (the 0-based layers to keep)")
        if self.augment and self.alpha_hard:
            raise ValueError(f"augment={self.augment} with alpha_hard={self.alpha_hard}: perturbed copies have no "
                             "gold label; set alpha_hard=0 (the teacher scores the copies) or augment=0")
        if self.augment and self.augment_mask_p + self.augment_drop_p == 0:
            raise ValueError(f"augment={self.augment} but augment_mask_p and augment_drop_p are 0: the copies would "
                             "equal the originals; raise one of them (e.g. 0.1)")
        if self.alpha_kd == self.alpha_hidden == self.alpha_hard == 0:
            raise ValueError("alpha_kd, alpha_hidden and alpha_hard are all 0; nothing to train on")
        return self


class Distill(Compressor):
    name = "distill"

    def __init__(self, options: DistillOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.distill_student import (
            encoder_layers,
            layer_map,
            make_loss_fn,
            make_student,
            select_layers,
        )

        opts = self.options
        current, teacher = job.current, job.teacher
        n_current = len(encoder_layers(current.model))
        n_teacher = len(encoder_layers(teacher.model))
        keep = select_layers(n_current, opts.layers, opts.selection, opts.keep)
        # Map to the *teacher's* layers: when an earlier compressor already dropped layers,
        # current layer j is teacher layer origin[j].
        origin = self._teacher_layers_of(current, n_current, n_teacher)
        to_teacher = {s: origin[c] for s, c in layer_map(keep).items()}

        student = ModelBundle(make_student(current.model, keep), current.tokenizer, current.name,
                              f"compressed:{self.name}",
                              {**current.info, "teacher_layer_ids": [to_teacher[i] for i in range(len(keep))]})
        job.tuner.prepare(student)  # the tuner decides which weights train (all, or adapters only)

        # A student that lost most of its layers has far more to relearn than a fine-tune: on real
        # STS-B (MiniLM 6 -> 2), doubling both the epochs and the learning rate of the defaults
        # (3 -> 6, 5e-5 -> 1e-4) raised dev Pearson from 0.546 to 0.643 (after tuning). The step is
        # cheap (about half a fine-tuning step with the teacher's forward), so twice the epochs
        # costs about what the teacher's fine-tune did.
        base = ctx.config.train
        # The tuner's needs (e.g. the adapters' learning rate) first; this compressor's defaults and options win.
        cfg = phase_config(ctx, job.tuner.train_overrides(),
                           {"epochs": 2 * base.epochs, "learning_rate": 2 * base.learning_rate}, opts.overrides())
        if opts.augment and job.task.kind == "qa":
            raise UserError("distill: augment works for classification and regression tasks; question "
                            "answering features carry answer positions that dropped tokens would move. "
                            "Use --set distill.augment=0")
        features = encode(job.data.train, student.tokenizer, job.task, cfg.max_length)
        originals = len(features)
        if opts.augment:
            from greenprune_builtins.distill_augment import augmented_copies

            features = features + augmented_copies(features, student.tokenizer, opts.augment, opts.augment_mask_p,
                                                   opts.augment_drop_p, seed=ctx.config.seed)
        loss_fn = make_loss_fn(teacher.model, to_teacher, temperature=opts.temperature, alpha_kd=opts.alpha_kd,
                               alpha_hidden=opts.alpha_hidden, alpha_hard=opts.alpha_hard)
        t_model = teacher.model
        was_training, t_device = t_model.training, next(t_model.parameters()).device
        try:
            out = train_phase(ctx, student, job.task, job.data, cfg, features=features, loss_fn=loss_fn,
                              description=f"compress: distill {n_current}->{len(keep)} layers")
        finally:
            # The teacher is shared with later phases (evaluation, inference): leave it as found.
            t_model.to(t_device)
            t_model.train(was_training)
        out.details.update({
            "kept_layers": keep,
            "layer_map": {str(s): t for s, t in to_teacher.items()}, "teacher_layers": n_teacher,
            "student_layers": len(keep),
            "augment": {"copies": opts.augment, "mask_p": opts.augment_mask_p, "drop_p": opts.augment_drop_p,
                        "original_examples": originals, "train_examples": len(features)},
            "loss": {"temperature": opts.temperature, "alpha_kd": opts.alpha_kd,
                     "alpha_hidden": opts.alpha_hidden, "alpha_hard": opts.alpha_hard},
        })
        return out

    @staticmethod
    def _teacher_layers_of(current: Any, n_current: int, n_teacher: int) -> list[int]:
        """Teacher layer index of each of ``current``'s layers."""
        from greenprune_builtins.distill_student import select_layers

        recorded = current.info.get("teacher_layer_ids")
        if isinstance(recorded, list) and len(recorded) == n_current:
            return [int(i) for i in recorded]
        if n_current == n_teacher:
            return list(range(n_current))
        if n_current > n_teacher:
            raise UserError(f"distill: the model to compress has {n_current} layers, more than the teacher's "
                            f"{n_teacher}; cannot map its layers onto the teacher's")
        # Depth changed by a compressor that did not record its mapping: assume an even spread.
        return select_layers(n_teacher, n_current, "uniform")


#: what reports call the loss parts distill logs (the training loop adds ``loss``, the total)
PHASE_REPORT = PhaseReport(loss_parts={"hard": "task loss on the labels", "kd": "prediction distillation (distill)",
                                       "hidden": "hidden-state distillation (distill)"})


@hookimpl
def greenprune_preflight(config: Any, teacher_config: Any) -> None:
    """``layers``/``keep`` against the teacher's depth, from its config: before the fine-tune,
    not after it. Checked where distill is the first compressor (it then cuts the teacher itself)."""
    from greenprune_builtins.distill_student import select_layers

    depth = getattr(teacher_config, "num_hidden_layers", None)
    if config.compressors[0] != "distill" or not isinstance(depth, int):
        return
    opts = DistillOptions.model_validate(config.options.get("distill", {}))
    select_layers(depth, opts.layers, opts.selection, opts.keep)


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("distill", factory=Distill, options=DistillOptions, phase_report=PHASE_REPORT,
                       description="drop encoder layers, then distill the teacher into the shallower student "
                                   "(epochs and learning_rate default to twice the run's train settings)"))
