"""The runtime matrix: every model in every configured runtime, at each batch size and thread count.

Each model is exported to ONNX once (dynamic batch and sequence; a model in a plugin's own form,
e.g. int8, by that plugin: ``greenprune_export_onnx``), loaded into ONNX Runtime once per thread
count, and checked against eager PyTorch on every batch it is measured with (the largest
|difference| of any output is recorded beside the tolerance the export's rule sets, the rule itself
and the argmax agreement, and a miss is reported as it happens).
Then, per thread count and batch size, all (model, runtime) pairs go through the same protocol as
the main inference figures (:func:`greenprune.inference.measure`: peak memory of the first calls,
warm-up, alternating timed repeats, alternating energy windows), so one cell of the matrix is
comparable with every other cell measured at the same batch and threads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from greenprune.config import InferenceConfig
from greenprune.metering import Meter
from greenprune.results import EnergyReading, InferenceFigures
from greenprune.tasks import Example


def _load(path: Path, threads: int) -> tuple[Any, int | None]:
    """The ONNX Runtime model and the resident memory its loading added (its own weight copy)."""
    from greenprune.memory import rss_bytes
    from greenprune.onnx_runtime import OrtModel

    before = rss_bytes()
    model = OrtModel(path, threads)
    after = rss_bytes()
    return model, (after - before if before is not None and after is not None else None)


def runtime_matrix(models: dict[str, Any], examples: list[Example], tokenizer: Any, cfg: InferenceConfig,
                   meters: list[Meter], baseline: list[EnergyReading] | None = None,
                   say: Callable[[str], None] = print, pm: Any = None) -> dict[str, list[InferenceFigures]]:
    """model name -> one :class:`InferenceFigures` per runtime x batch size x thread count; ``pm``
    (the run's plugin manager) lets plugins export the models in their own forms."""
    import torch

    from greenprune import onnx_runtime
    from greenprune.inference import eager_call, fixed_batch, measure
    from greenprune.memory import weight_bytes

    onnx = "onnxruntime" in cfg.runtimes
    if onnx:
        onnx_runtime.check_available()
    base_threads = torch.get_num_threads()
    cells: dict[str, list[InferenceFigures]] = {name: [] for name in models}
    batches = {bs: fixed_batch(examples, tokenizer, cfg.model_copy(update={"batch_size": bs}))
               for bs in cfg.matrix_batch_sizes}
    with tempfile.TemporaryDirectory(prefix="greenprune-onnx-") as tmp:
        # Traced on the largest batch: an exporter that sets its parity rule from the model's own
        # behaviour (int8) measures it there; batch and sequence stay dynamic either way.
        exported = {name: onnx_runtime.export_model(models[name], batches[max(batches)], Path(tmp) / f"{name}.onnx",
                                                    pm) for name in (models if onnx else {})}
        files = {name: e.path for name, e in exported.items()}
        try:
            for threads in cfg.matrix_threads or [base_threads]:
                torch.set_num_threads(threads)
                loaded = {name: _load(path, threads) for name, path in files.items()}
                for bs, batch in batches.items():
                    calls: dict[str, Callable[[], None]] = {}
                    for name, model in models.items():
                        for runtime in cfg.runtimes:
                            if runtime == "eager":
                                calls[f"{name}|eager"] = eager_call(model, batch)
                            else:
                                ort_model = loaded[name][0]
                                calls[f"{name}|{runtime}"] = partial(_call, ort_model, batch)
                    figures = measure(calls, bs, cfg, meters, baseline)
                    for key, fig in figures.items():
                        name, measured_in = key.split("|")
                        fig.runtime, fig.threads = measured_in, threads
                        if fig.memory is not None:
                            fig.memory.weight_bytes = weight_bytes(models[name])
                        if measured_in == "onnxruntime":
                            ort_model, load_bytes = loaded[name]
                            fig.runtime_info = {**ort_model.info, **exported[name].info}
                            check = onnx_runtime.parity(models[name], ort_model, batch, exported[name].rule)
                            fig.parity_max_abs_diff, fig.parity_tolerance = check.max_abs_diff, check.tolerance
                            fig.parity_rule, fig.parity_argmax_agreement = check.rule, check.argmax_agreement
                            if fig.memory is not None:
                                fig.memory.runtime_load_bytes = load_bytes
                            if not check.ok:
                                say(f"[red]{name} in onnxruntime differs from PyTorch by "
                                    f"{check.max_abs_diff:.2e} (tolerance {check.rule})[/red]")
                        else:
                            fig.runtime_info = {"torch": torch.__version__}
                        cells[name].append(fig)
        finally:
            torch.set_num_threads(base_threads)
    return cells


def _call(model: Any, batch: dict[str, Any]) -> None:
    model(**batch)
