"""greenprune's public API: the one module a plugin imports greenprune things from.

The plugins that ship with greenprune import only from here, exactly as a third-party
plugin would; everything else under ``greenprune`` is private and may change without notice. When
a plugin needs something this module lacks, the API grows here, documented.

What a plugin uses, by job (each name is documented field by field where it is defined):

* **Registering** -- :data:`hookimpl` marks hook implementations; :class:`Component` is what a
  ``greenprune_register_*`` hook registers (name, factory, options model, description).
* **Component protocols** -- :class:`Compressor` (with :class:`CompressJob`), :class:`Tuner`,
  :class:`Evaluator`, :class:`Meter` (returning :class:`EnergyReading`, whose ``scope`` says
  whether its joules are the process's own or the machine's: see :class:`Meter`),
  :class:`ReportSection`. Subclass a protocol to inherit its optional members' defaults.
* **Data types** -- :class:`RunContext` (``ctx``), :class:`ModelBundle`, :class:`Task` /
  :class:`QATask` / :class:`TaskData` / :data:`Example`, :class:`TrainConfig` and the other
  config sections, :class:`RunResult` and its parts (what report sections read).
* **Helpers** -- :func:`train_phase` (the one training phase: encode, train, summary, trace) with
  :func:`phase_config` and the shared :class:`TrainOverrides` options (``epochs``,
  ``learning_rate``); :class:`PhaseOutput` (what a compressor or tuner returns: value, details,
  trace, cache_hit); :func:`encode` / :func:`loader` (examples to batches), :func:`train` (the
  training loop itself), :func:`finetune_cached` (fine-tune with the teacher cache),
  :func:`shard_for_eval` (an evaluator's batches split over the processes of a multi-process run
  and its predictions gathered back, each example once), QA features
  (:func:`encode_eval`, :func:`postprocess`), report building blocks (:class:`Doc`, :data:`Fmt`,
  :data:`MISSING`, :class:`FigureFile`, :mod:`report_facts`, :mod:`report_markup`,
  :mod:`report_figures`); :func:`student_class` (the model class a saved config names, for a
  ``greenprune_load_student`` that rebuilds a model it saved in its own form, e.g. int8).
* **ONNX export** -- a plugin whose models the core's exporter cannot take (its own int8 modules)
  implements ``greenprune_export_onnx`` and returns an :class:`OnnxExport` with the
  :class:`ParityRule` its outputs are checked by (float32's is :data:`PARITY_TOLERANCE`);
  :func:`onnx_export` is the core's float32 exporter (TorchScript, dynamic batch and sequence) it can
  build on.
* **Reports** -- a section gets a :class:`ReportInput` (the runs and every compressor's and tuner's
  :class:`PhaseReport`) and may draw figures (:class:`FigureSection`); a compressor or tuner
  describes its own traces and phases with ``Component(phase_report=PhaseReport(...))``.
  :func:`hardware` / :func:`hardware_note` name each run's machine and warn beside any table whose
  runs were measured on different hardware; :func:`payback` (-> :class:`Payback` per meter source)
  and :func:`payback_text` derive a student's energy payback from its result at read time.
* **Errors** -- raise :class:`UserError` for bad input (one line naming the value and the fix;
  the CLI exits 2 without a traceback); :func:`unknown` builds the "unknown name" one.

Everything here is light to import (no torch, no transformers): plugins load when ``greenprune
plugins`` lists them. Keep it so; heavy helpers import their libraries inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenprune import NAME, __version__, hookimpl
from greenprune.components import Component, NoOptions
from greenprune.compression import CompressJob
from greenprune.config import EnergyConfig, InferenceConfig, RunConfig, TrainConfig
from greenprune.context import PhaseOutput, RunContext
from greenprune.data import encode, loader
from greenprune.distributed import shard_for_eval
from greenprune.errors import UserError, unknown
from greenprune.finetuning import finetune_cached
from greenprune.modeling import ModelBundle
from greenprune.onnx_runtime import PARITY_TOLERANCE, OnnxExport, ParityRule
from greenprune.onnx_runtime import export as onnx_export
from greenprune.payback import Payback, payback, payback_text
from greenprune.progress import Progress
from greenprune.protocols import Compressor, Evaluator, Meter, Metrics, Tuner
from greenprune.qa import QATask, encode_eval, postprocess
from greenprune.report import facts as report_facts
from greenprune.report import figures as report_figures
from greenprune.report import markup as report_markup
from greenprune.report.hardware import hardware, hardware_note
from greenprune.report.markup import MISSING, Doc
from greenprune.report.types import (
    FigureFile,
    FigureSection,
    Fmt,
    GroupKey,
    PhaseReport,
    ReportInput,
    ReportSection,
    phase_kind,
)
from greenprune.results import (
    EnergyReading,
    InferenceFigures,
    MemoryFigures,
    ModelReport,
    ModelSize,
    PerExampleEnergy,
    PhaseRecord,
    RunResult,
)
from greenprune.saved import model_class as student_class
from greenprune.structure.families import FAMILIES, EncoderFamily, encoder_layers, family_of, layer_projections
from greenprune.structure.sizes import EncoderCount, count_encoder, file_dtype_bytes
from greenprune.structure.surgery import SurgeryEvent, by_module
from greenprune.tasks import Example, Task, TaskData
from greenprune.training import LossFn, TrainResult, default_loss, train, trainable_groups
from greenprune.training_phase import TrainOverrides, phase_config, train_phase

#: The compact encoder (any structured pruner's target): imported on first use, because it imports
#: torch and transformers (and registers the compact classes with transformers' Auto classes).
_COMPACT = ("CompactModel", "UnitScales", "CompactEncoderForSequenceClassification", "compact_classes", "from_hf",
            "conversion_events", "is_compact", "kept_index", "layer_scales", "load_compact", "save_compact",
            "register_compact")


if TYPE_CHECKING:  # what the lazy names are, for type checkers and linters
    from greenprune.structure.compact import (
        CompactEncoderForSequenceClassification,
        CompactModel,
        UnitScales,
        compact_classes,
        conversion_events,
        from_hf,
        is_compact,
        kept_index,
        layer_scales,
        load_compact,
        save_compact,
    )
    from greenprune.structure.compact import register as register_compact


def __getattr__(name: str) -> object:
    if name in _COMPACT:
        import greenprune.structure.compact as compact

        return compact.register if name == "register_compact" else getattr(compact, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# One literal list (linters and type checkers read it), grouped by job: a new kind of thing
# (size accounting, surgery events, ...) adds one group here and its import above.
__all__ = [  # noqa: RUF022  (grouped by job, not sorted)
    # registering
    "NAME", "Component", "NoOptions", "__version__", "hookimpl",
    # component protocols and what they exchange
    "CompressJob", "Compressor", "EnergyReading", "Evaluator", "Meter", "Metrics", "PhaseOutput", "ReportSection",
    "Tuner",
    # data types
    "EnergyConfig", "Example", "InferenceConfig", "ModelBundle", "Progress", "QATask", "RunConfig",
    "RunContext", "Task", "TaskData", "TrainConfig",
    # results (what report sections read)
    "InferenceFigures", "MemoryFigures", "ModelReport", "ModelSize", "PerExampleEnergy", "PhaseRecord", "RunResult",
    # model structure: encoder families, size accounting, surgery events
    "FAMILIES", "EncoderCount", "EncoderFamily", "SurgeryEvent", "by_module", "count_encoder", "encoder_layers",
    "family_of", "file_dtype_bytes", "layer_projections",
    # the compact encoder (lazy: see _COMPACT)
    "CompactModel", "UnitScales", "CompactEncoderForSequenceClassification", "compact_classes", "from_hf",
    "conversion_events", "is_compact", "kept_index", "layer_scales", "load_compact", "save_compact", "register_compact",
    # saved students: the class a saved config names (a plugin's greenprune_load_student builds on it)
    "student_class",
    # ONNX export of a model in a plugin's own form (greenprune_export_onnx)
    "PARITY_TOLERANCE", "OnnxExport", "ParityRule", "onnx_export",
    # training and features
    "TrainOverrides", "phase_config", "train_phase", "finetune_cached",
    "LossFn", "TrainResult", "default_loss", "encode", "encode_eval", "loader", "postprocess", "train",
    "trainable_groups",
    # several processes (torchrun, accelerate launch): an evaluator's batches split and gathered
    "shard_for_eval",
    # reports: what a section gets and gives, what a compressor / tuner says about its phases
    "FigureSection", "GroupKey", "PhaseReport", "ReportInput", "phase_kind",
    # derived for reports, the headline and model cards: hardware labels, energy payback
    "Payback", "hardware", "hardware_note", "payback", "payback_text",
    # report building blocks
    "MISSING", "Doc", "FigureFile", "Fmt", "report_facts", "report_figures", "report_markup",
    # errors
    "UserError", "unknown",
]
