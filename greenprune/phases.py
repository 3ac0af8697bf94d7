"""The phases of one run, in order: teacher fine-tune, compress (each compressor), tune,
evaluate, inference. Each phase goes through ``RunContext.run_phase`` and so is metered."""

from __future__ import annotations

from typing import Any

from greenprune.compression import CompressJob
from greenprune.context import PhaseOutput, RunContext
from greenprune.distributed import is_main
from greenprune.errors import UserError
from greenprune.modeling import ModelBundle
from greenprune.protocols import Compressor
from greenprune.results import ModelReport


def run_phases(ctx: RunContext) -> None:
    """Measure the idle baseline, run every phase, then set baseline/dynamic on each phase reading
    (also when a phase fails, so the phases recorded so far carry it too), each reading with its
    own process's and sensor's idle power."""
    from greenprune.metering import apply_baseline, measure_baseline

    result = ctx.result
    result.energy_baseline = measure_baseline(ctx.meters, ctx.config.energy.idle_baseline_s)
    for line in _baseline_lines(result.energy_baseline):
        ctx.progress.say(f"[dim]idle baseline: {line}[/dim]")
    try:
        _run_phases(ctx)
    finally:
        apply_baseline([e for p in result.phases for e in p.energy], result.energy_baseline)


def _baseline_lines(baseline: list[Any]) -> list[str]:
    from greenprune.metering import idle_power

    return [f"{meter} {covers}: " + ("no figure" if w is None else f"{w:.3g} W")
            for (meter, covers), w in idle_power(baseline).items()]


def task_and_evaluator(ctx: RunContext) -> tuple[Any, Any]:
    """The run's task and the evaluator that scores it (the config's, else the task's own)."""
    cfg, cat = ctx.config, ctx.catalogue
    task = cat.get("task", cfg.task).build(ctx.options(cfg.task))
    evaluator_name = cfg.evaluator or task.evaluator
    return task, cat.get("evaluator", evaluator_name).build(ctx.options(evaluator_name))


def load_task_data(ctx: RunContext, task: Any) -> Any:
    """The task's data through the plugins, subsampled with the run's seed (so a later reload,
    e.g. ``greenprune verify``, gets exactly the run's examples)."""
    cfg = ctx.config
    data = ctx.pm.hook.greenprune_load_task_data(task=task, ctx=ctx)
    if data is None:
        raise UserError(f"no plugin provides data for task {task.name!r}; is its plugin disabled?")
    return data.subsample(cfg.max_train_samples, cfg.max_eval_samples, cfg.seed)


def _produced(output: object, who: str) -> PhaseOutput[ModelBundle]:
    """A compressor's or tuner's output, checked: a plugin bug is named, not a confusing crash later."""
    if not isinstance(output, PhaseOutput) or not isinstance(output.value, ModelBundle):
        got = type(output.value if isinstance(output, PhaseOutput) else output).__name__
        raise TypeError(f"{who} returned {got}; return greenprune.api.PhaseOutput(value=ModelBundle(...), "
                        "details={...})")
    return output


def _run_phases(ctx: RunContext) -> None:
    from greenprune.finetuning import finetune_cached
    from greenprune.inference import benchmark
    from greenprune.modeling import encoder_params, model_size
    from greenprune.parametrized import fold_parametrizations

    cfg, pm, cat, result = ctx.config, ctx.pm, ctx.catalogue, ctx.result
    task, evaluator = task_and_evaluator(ctx)
    compressors = [(n, cat.get("compressor", n).build(ctx.options(n))) for n in cfg.compressors]
    tuner = cat.get("tuner", cfg.tuner).build(ctx.options(cfg.tuner))
    pm.hook.greenprune_configure(ctx=ctx)

    data = load_task_data(ctx, task)
    result.task = {**task.as_dict(), "source": data.source, "notes": data.notes, "sizes": data.sizes()}
    for note in data.notes:
        ctx.progress.say(f"[yellow]data: {note}[/yellow]")

    # Seed before the teacher loads: its task head is initialised at random right there, and
    # training seeds only when it starts. Unseeded, two processes with the same config (two sweep
    # shards) fine-tuned different teachers (STS-B dev Pearson 0.128 vs 0.164 in one study).
    from accelerate.utils import set_seed

    set_seed(cfg.seed)
    pretrained = pm.hook.greenprune_load_teacher(spec=cfg.teacher, task=task, ctx=ctx)
    if pretrained is None:
        raise UserError(f"no plugin can load teacher {cfg.teacher!r}")
    result.extra["teacher"] = {"spec": cfg.teacher, **pretrained.info}

    teacher = ctx.run_phase("teacher-finetune", lambda: finetune_cached(
        ctx, pretrained, task, data, cfg.train, "teacher: finetune"))
    result.teacher.metrics = metrics = ctx.run_phase("evaluate:teacher",
                                                     lambda: evaluator.evaluate(ctx, teacher, task, data))
    ctx.progress.say(f"teacher {task.name}: {_fmt(metrics)}")

    job = CompressJob(current=teacher, teacher=teacher, pretrained=pretrained, task=task, data=data,
                      tuner=tuner, sparsity=cfg.sparsity)
    post = {i for i, n in enumerate(cfg.compressors) if cat.get("compressor", n).post_training}
    for i, (name, compressor) in enumerate(compressors):
        if i not in post:
            _compress(ctx, job, i, name, compressor)
    trained = [n for i, n in enumerate(cfg.compressors) if i not in post]
    if trained and trained != ["none"]:
        metrics = ctx.run_phase("evaluate:compressed", lambda: evaluator.evaluate(ctx, job.current, task, data))
        result.student_after_compress = ModelReport(metrics=metrics)
        ctx.progress.say(f"student after compression: {_fmt(metrics)}")

    if trained:
        student = ctx.run_phase(f"tune:{cfg.tuner}", lambda: _produced(
            tuner.tune(ctx, job.current, task, data), f"tuner {cfg.tuner!r}"))
    else:
        # Only post-training compressors: the fine-tuned teacher is the trained student; tuning it
        # again would only train it longer than the teacher it is compared with.
        student = teacher.clone(origin="teacher")
        result.extra["tune_skipped"] = "the chain holds only post-training compressors"
    fold_parametrizations(student.model)  # plugins' training-time constraints become plain weights
    if post:
        metrics = ctx.run_phase("evaluate:tuned", lambda: evaluator.evaluate(ctx, student, task, data))
        result.student_before_post_training = ModelReport(metrics=metrics)
        job.current = student
        for i, (name, compressor) in enumerate(compressors):
            if i in post:
                _compress(ctx, job, i, name, compressor)
        student = job.current
    result.student.metrics = metrics = ctx.run_phase("evaluate:student",
                                                     lambda: evaluator.evaluate(ctx, student, task, data))
    ctx.progress.say(f"student after {cfg.tuner}" + (" and post-training compression" if post else "")
                     + f": {_fmt(metrics)}")

    # Every rank's readings into the result, at the last point every rank reaches (a collective;
    # not reached after a failure, which may have left the other ranks inside a training step).
    # What follows runs on the main process only.
    from greenprune.energy_ranks import merge_ranks

    merge_ranks(result)
    reference = encoder_params(teacher.model)
    result.teacher.size = model_size(teacher.model, reference)
    result.student.size = model_size(student.model, reference)
    if cfg.inference.enabled:
        dev = next(iter(data.dev.values()))
        # Once, by the main process: the other processes' devices are the same kind, and timing
        # two processes on one CPU would measure their contention.
        figures = ctx.run_phase("inference", lambda: benchmark(
            {"teacher": teacher.model, "student": student.model}, dev, teacher.tokenizer, cfg.inference, ctx.meters,
            baseline=result.energy_baseline) if is_main() else None)
        if figures:
            result.teacher.inference, result.student.inference = figures["teacher"], figures["student"]
        if figures and cfg.inference.matrix:
            from greenprune.runtime_matrix import runtime_matrix

            cells = ctx.run_phase("inference:runtimes", lambda: runtime_matrix(
                {"teacher": teacher.model, "student": student.model}, dev, teacher.tokenizer, cfg.inference,
                ctx.meters, baseline=result.energy_baseline, say=ctx.progress.say, pm=ctx.pm))
            result.teacher.runtimes, result.student.runtimes = cells["teacher"], cells["student"]
    if cfg.save_student and is_main():
        target = ctx.out_dir / "models" / result.run_key
        student.model.save_pretrained(target)
        student.tokenizer.save_pretrained(target)
        result.extra["student_path"] = str(target)


def _compress(ctx: RunContext, job: CompressJob, i: int, name: str, compressor: Compressor) -> None:
    # A compressor used twice in a chain gets a numbered phase so its trace is not overwritten.
    phase = f"compress:{name}" if ctx.config.compressors.count(name) == 1 else f"compress:{name}#{i + 1}"
    job.current = ctx.run_phase(phase, lambda: _produced(compressor.compress(ctx, job), f"compressor {name!r}"))


def _fmt(metrics: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{split}: " + ", ".join(f"{k}={v:.4f}" for k, v in m.items()) for split, m in metrics.items())
