"""ONNX export of a model and its execution in ONNX Runtime, checked against PyTorch.

Export uses ``torch.onnx.export`` with the TorchScript-based exporter (``dynamo=False``): it needs
only ``onnx``, and it exports HF BERT, greenprune's compact BERT (layers without heads, uneven
widths) and forward-hook adapters as they run. The dynamo exporter would also need ``onnxscript``.
Batch and sequence are dynamic axes, so one file serves every batch size of the matrix.

:class:`OrtModel` looks like a PyTorch model to the code that calls models (``model(**batch)``
returns an object with the named outputs as tensors, ``parameters()`` says "CPU"), so evaluators
score an ONNX file exactly as they score the PyTorch model.

A model in a form the TorchScript exporter cannot take (torch's int8 modules) is exported by the
plugin that made it, through the ``greenprune_export_onnx`` hook (:func:`export_model`): it returns an
:class:`OnnxExport` whose :class:`ParityRule` states how close that file must come to the PyTorch
model (an int8 graph quantized by ONNX Runtime is not held to float32's 1e-4).

The ``onnx`` and ``onnxruntime`` packages are the ``[onnx]`` extra; :func:`check_available` names
it when they are missing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from greenprune.errors import UserError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: largest |ONNX Runtime - PyTorch| accepted on any output of a float32 model
PARITY_TOLERANCE = 1e-4
#: largest |recorded - ONNX Runtime| metric difference of a float32 graph that still counts as "scores as
#: recorded" (it rounds differently from PyTorch at ~1e-7, which can move a correlation in its 7th digit
#: or, rarely, flip one borderline prediction)
METRIC_TOLERANCE = 1e-4
OPSET = 17


@dataclass(frozen=True)
class ParityRule:
    """How close an exported model's outputs must come to the PyTorch model's, and why.

    ``tolerance`` bounds the largest |ONNX Runtime - PyTorch| over every output on a checked batch;
    ``metric_tolerance`` bounds |recorded - ONNX Runtime| of a dev-set metric (``greenprune export``).
    An exporter whose graph computes differently on purpose (int8 kernels) sets both from what it
    measured and says so in ``why``.
    """

    tolerance: float = PARITY_TOLERANCE
    metric_tolerance: float = METRIC_TOLERANCE
    why: str = "float32 graph: only the order of float operations differs"

    def describe(self) -> str:
        return f"{self.tolerance:.3g} absolute ({self.why})"


@dataclass
class OnnxExport:
    """What an export wrote: the file, its output names, the rule its parity is checked by, and
    what to add to the runtime's record (``runtime_info``: e.g. which quantizer made it)."""

    path: Path
    outputs: list[str]
    rule: ParityRule = field(default_factory=ParityRule)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parity:
    """An exported model against PyTorch on one batch."""

    max_abs_diff: float
    tolerance: float
    rule: str
    #: rows whose argmax over the last axis agree, over outputs with more than one column (None: none has)
    argmax_agreement: float | None

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance  # NaN fails


def check_available() -> None:
    """A one-line error naming the extra to install when the runtime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise UserError(f"the onnxruntime runtime needs the onnx extra ({e.name} is missing): "
                        "pip install 'greenprune[onnx]'") from None


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


def providers() -> list[str]:
    """CUDA where both ONNX Runtime and the machine have it, else the CPU provider."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        import torch

        if torch.cuda.is_available():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _inputs(batch: dict[str, Any]) -> dict[str, Any]:
    import torch

    ids = batch["input_ids"]
    out = {"input_ids": ids,
           "attention_mask": batch.get("attention_mask", torch.ones_like(ids)),
           "token_type_ids": batch.get("token_type_ids", torch.zeros_like(ids))}
    return {k: v.cpu() for k, v in out.items()}


def output_names(model: Any, batch: dict[str, Any]) -> list[str]:
    """The tensor outputs a task head returns (``logits``; ``start_logits``/``end_logits`` for QA)."""
    import torch

    with torch.inference_mode():
        out = model(**_inputs(batch))  # on the CPU: export() hands a CPU model
    return [k for k, v in out.items() if isinstance(v, torch.Tensor) and k not in ("loss",)]


def export(model: Any, batch: dict[str, Any], path: Path) -> list[str]:
    """Write ``model`` (eval mode, CPU) to ``path`` as ONNX; return its output names."""
    import torch

    if next(model.parameters()).device.type != "cpu":  # export from a CPU copy; the measured model stays put
        import copy

        model = copy.deepcopy(model).cpu()
    model = model.eval()
    names = output_names(model, batch)

    class Outputs(torch.nn.Module):  # positional inputs, a tuple of the named outputs
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, ...]:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return tuple(out[n] for n in names)

    inputs = _inputs(batch)
    dynamic = {k: {0: "batch", 1: "sequence"} for k in INPUTS} | {n: {0: "batch"} for n in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-level shape checks in transformers' BERT (constants at any
        # shape for these models; parity is checked at other shapes in the tests) and about opset
        # details: noise for a user of ``greenprune bench``.
        warnings.simplefilter("ignore")
        torch.onnx.export(Outputs().eval(), tuple(inputs[k] for k in INPUTS), str(path), input_names=list(INPUTS),
                          output_names=names, dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    return names


def export_model(model: Any, batch: dict[str, Any], path: Path, pm: Any = None) -> OnnxExport:
    """``model`` to ONNX at ``path``: by the plugin that knows its form (``greenprune_export_onnx``,
    when ``pm`` is given and one answers), else by :func:`export` (float32, parity at 1e-4)."""
    if pm is not None:
        done = pm.hook.greenprune_export_onnx(model=model, batch=batch, path=path)
        if done is not None:
            return done
    return OnnxExport(Path(path), export(model, batch, path))


class OrtModel:
    """An ONNX Runtime session called like a PyTorch model (see the module docstring)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        import torch

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # warnings about unused initializers etc. are noise here
        self.providers = providers()
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=self.providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._device = torch.zeros(0)  # what ``parameters()`` shows: inputs stay on the CPU
        self.path = Path(path)
        self.threads = threads

    def eval(self) -> OrtModel:
        return self

    def parameters(self) -> Any:
        return iter([self._device])

    def __call__(self, **batch: Any) -> Any:
        import torch

        inputs = _inputs(batch)
        feed = {k: inputs[k].numpy() for k in self.input_names}
        outs = self.session.run(self.output_names, feed)
        return SimpleNamespace(**{n: torch.from_numpy(o) for n, o in zip(self.output_names, outs, strict=True)})

    @property
    def info(self) -> dict[str, Any]:
        return {**versions(), "providers": self.session.get_providers(), "exporter": "torch.onnx (TorchScript)",
                "opset": OPSET, "file_bytes": self.path.stat().st_size}


def parity(model: Any, ort_model: OrtModel, batch: dict[str, Any], rule: ParityRule | None = None) -> Parity:
    """ONNX Runtime against PyTorch on ``batch``: the largest |difference| over every output against
    ``rule``'s bound, and how many rows' argmax agree (classification, QA spans)."""
    import torch

    rule = rule or ParityRule()
    device = next(model.parameters()).device
    with torch.inference_mode():
        ref = model(**{k: v.to(device) for k, v in _inputs(batch).items()})
    got = ort_model(**batch)
    pairs = [(getattr(got, n), ref[n].float().cpu()) for n in ort_model.output_names]
    diff = max(float((a - b).abs().max()) for a, b in pairs)
    agree = [(a.argmax(-1) == b.argmax(-1)).float().mean().item() for a, b in pairs if b.shape[-1] > 1]
    return Parity(diff, rule.tolerance, rule.describe(), sum(agree) / len(agree) if agree else None)
