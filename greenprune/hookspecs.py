"""Every greenprune hook, grouped by lifecycle.

Catalogue hooks (``greenprune_register_*``) receive a ``register`` callback, as simonw/llm does:
a plugin calls ``register(Component(...))`` once per thing it offers. Provider hooks are
``firstresult``: the first plugin that returns something other than ``None`` wins. Lifecycle hooks
are called by the runner; cross-cutting concerns (energy metering) wrap ``greenprune_run_phase``.

Implementations may accept fewer arguments than a spec names; that is how specs can grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from greenprune import NAME

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from greenprune.components import Component
    from greenprune.context import Phase, RunContext
    from greenprune.results import PhaseRecord, RunResult
    from greenprune.tasks import Task, TaskData

hookspec = pluggy.HookspecMarker(NAME)

# ---------------------------------------------------------------------------------------------
# Catalogue: what components exist
# ---------------------------------------------------------------------------------------------


@hookspec
def greenprune_register_tasks(register: Callable[[Component], None]) -> None:
    """Register tasks (GLUE tasks, the demo task, ...).

    :param register: call with a :class:`~greenprune.components.Component` whose ``factory``
        returns a :class:`~greenprune.tasks.Task`.
    """


@hookspec
def greenprune_register_compressors(register: Callable[[Component], None]) -> None:
    """Register compressors (none, distill, cofi, ...); ``factory(options)`` returns an object
    with ``compress(ctx, student, teacher, data, tuner) -> ModelBundle``.

    :param register: the callback to call once per compressor.
    """


@hookspec
def greenprune_register_tuners(register: Callable[[Component], None]) -> None:
    """Register tuners (finetune, adapter, ...); ``factory(options)`` returns an object with
    ``prepare(bundle)`` (choose trainable weights) and ``tune(ctx, bundle, data) -> ModelBundle``.

    :param register: the callback to call once per tuner.
    """


@hookspec
def greenprune_register_evaluators(register: Callable[[Component], None]) -> None:
    """Register evaluators: ``factory(options)`` returns an object with
    ``evaluate(ctx, bundle, data) -> dict[str, dict[str, float]]`` (split -> metric -> value).

    :param register: the callback to call once per evaluator.
    """


@hookspec
def greenprune_register_meters(register: Callable[[Component], None]) -> None:
    """Register energy meters: ``factory(options)`` returns a
    :class:`~greenprune.metering.Meter`.

    :param register: the callback to call once per meter.
    """


@hookspec
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    """Register report sections: ``factory(options)`` returns a
    :class:`greenprune.api.ReportSection` (``title``, ``render(report, fmt) -> str`` with
    ``fmt`` ``"markdown"`` or ``"html"``, optionally ``figures(report, fig_dir)``). ``Component.order``
    places the section (lower first; the built-ins use 100-500). See ``greenprune.api``.

    :param register: the callback to call once per section.
    """


# ---------------------------------------------------------------------------------------------
# Providers: load things (firstresult)
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def greenprune_load_teacher(spec: str, task: Task, ctx: RunContext) -> Any:
    """Load a pretrained teacher (model + tokenizer) for ``task`` from ``spec``.

    :param spec: what the user passed to ``--teacher``: ``minilm``, a Hub id, a local folder.
    :param task: the task, which decides the head (classification, regression, ...).
    :param ctx: the run context.
    :return: a :class:`~greenprune.modeling.ModelBundle`, or ``None`` if this plugin does not
        handle ``spec``. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def greenprune_load_student(path: Path) -> Any:
    """Load a student that a run saved with ``save_pretrained`` (``OUT/models/<run_key>``).

    A plugin that saves more than the model's own weights (adapters) loads them back here; when
    no plugin answers, greenprune loads the folder with the transformers ``AutoModel`` class its
    config names (the compact BERT included).

    :param path: the folder.
    :return: the model in eval mode, or ``None`` if this plugin did not save it.
    """


@hookspec(firstresult=True)
def greenprune_export_onnx(model: Any, batch: dict[str, Any], path: Path) -> Any:
    """Write ``model`` to ``path`` as ONNX, when it is in a form this plugin made and the core's
    exporter (TorchScript, float32, parity at 1e-4) cannot take or would check wrongly (int8 modules,
    ...). Used by the runtime matrix and ``greenprune export``.

    :param model: the PyTorch model (eval mode), as measured and saved.
    :param batch: a tokenized example batch (``input_ids``, ``attention_mask``, ``token_type_ids``)
        to trace with.
    :param path: the ONNX file to write.
    :return: a :class:`greenprune.api.OnnxExport` (file, output names, the :class:`~greenprune.api.ParityRule`
        its outputs are checked by, what to record about how it was made), or ``None`` for a model
        this plugin did not make: the core exports it (:func:`greenprune.api.onnx_export`).
    """


@hookspec(firstresult=True)
def greenprune_load_task_data(task: Task, ctx: RunContext) -> TaskData | None:
    """Load the train and dev examples of ``task`` (local folder, Hub, embedded).

    :param task: the task to load.
    :param ctx: the run context (``ctx.config.data_dir`` names a local folder, if any).
    :return: :class:`~greenprune.tasks.TaskData`, or ``None`` if this plugin does not provide
        ``task``. Stops at the first non-None result.
    """


# ---------------------------------------------------------------------------------------------
# Pre-flight: checks that run before any data loads, meter starts or model trains
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def greenprune_teacher_config(spec: str) -> Any:
    """The teacher's model configuration (a transformers ``PretrainedConfig``), read without its
    weights, so every run can be checked against the teacher's shape before any work.

    :param spec: what the user passed to ``--teacher``.
    :return: the configuration, or ``None`` if this plugin does not handle ``spec``; raise
        :class:`~greenprune.errors.UserError` for a spec it handles that names no usable teacher
        (a missing folder, a Hub id that cannot be reached).
    """


@hookspec
def greenprune_model_families() -> list[str]:
    """Model families (``model_type`` of a transformers config, e.g. ``"deberta-v2"``) that this
    plugin's components handle end to end, beyond those of the core's structure layer
    (``greenprune.structure.families``: BERT, RoBERTa). A teacher of no known family is refused
    before the run, naming the known ones.

    :return: the families, or an empty list.
    """
    return []  # a spec's body is never called; this keeps the declared type honest


@hookspec
def greenprune_preflight(config: Any, teacher_config: Any) -> None:
    """Check one run against its teacher before any data loads or meter starts (an option that
    names more layers than the teacher has, ...). Raise :class:`~greenprune.errors.UserError`
    with one line naming the bad value and the fix; return nothing when the run is fine.

    :param config: the run's :class:`~greenprune.config.RunConfig`.
    :param teacher_config: the teacher's configuration (see ``greenprune_teacher_config``).
    """


@hookspec
def greenprune_check_task_data(task: Task, config: Any) -> None:
    """Check that ``task``'s data can be found (folders and files exist and are what they should
    be) without reading it, so a wrong ``--data-dir`` fails before any work. Raise
    :class:`~greenprune.errors.UserError`; a plugin that does not provide ``task`` does nothing.

    :param task: the task.
    :param config: the run's configuration (``config.data_dir``).
    """


# ---------------------------------------------------------------------------------------------
# Run lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def greenprune_configure(ctx: RunContext) -> None:
    """Called once per run after the configuration is validated and before any model loads.

    :param ctx: the run context.
    """


@hookspec(firstresult=True)
def greenprune_run_phase(ctx: RunContext, phase: Phase) -> Any:
    """Run one phase (teacher fine-tune, compress, tune, evaluate, inference) and return its
    output. The core's implementation runs ``phase.fn()``; energy metering wraps this hook
    (``wrapper=True``) so that every phase is metered the same way.

    :param ctx: the run context.
    :param phase: the phase; wrappers add energy readings to ``phase.record``.
    :return: the phase's output. Stops at the first non-None result.
    """


@hookspec
def greenprune_phase_finished(ctx: RunContext, record: PhaseRecord) -> None:
    """Called after each phase with its record (wall time, energy readings).

    :param ctx: the run context.
    :param record: the finished phase's record.
    """


@hookspec
def greenprune_run_finished(ctx: RunContext, result: RunResult) -> None:
    """Called once a run's result is complete, before it is appended to ``results.jsonl``.

    :param ctx: the run context.
    :param result: the run's result; plugins may add to ``result.extra``.
    """
