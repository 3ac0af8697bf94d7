"""The int8 student in ONNX Runtime: the float graph of its very weights, quantized by ORT's own tool.

torch's dynamic int8 Linear (a packed fbgemm object) does not go through the TorchScript exporter.
So the student's float twin is exported instead: each int8 Linear becomes a float MatMul (+ Add) whose
weight is the int8 weight dequantized (int8 x its channel's scale), and the int8 embedding table stays
as it is (a Gather of int8 rows times their scales exports as plain ONNX ops and stays int8 in the
file). Then ``onnxruntime.quantization.quantize_dynamic`` quantizes every MatMul with a constant
weight to ``MatMulInteger`` (uint8 activations quantized per batch, int8 weights per output channel),
with the student's own scales and zero points passed as overrides, so the ONNX file holds exactly
the PyTorch student's int8 weights and runs in ORT's int8 kernels.

What still differs is how activations are rounded: torch's fbgemm kernels quantize them with 7 bits
(``reduce_range``, so u8 x s8 products cannot saturate int16 on CPUs without VNNI), ORT with 8. So
the two int8 runs carry different activation-rounding errors, each about the size of the error the
PyTorch student's own int8 rounding adds to its float twin (same weights, float activations). The
parity tolerance is measured, not guessed: :data:`ROUNDING_FACTOR` times that own error on the export
batch (see :func:`rule_for`).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from greenprune.api import PARITY_TOLERANCE, OnnxExport, ParityRule, onnx_export
from greenprune_builtins.int8.modules import Int8Linear, set_module

#: ORT's int8 outputs may differ from torch's by this many times the PyTorch student's own int8
#: rounding error (|int8 - float twin|) on the same batch. Two independent activation roundings, ORT's
#: half as coarse as torch's, differ by about sqrt(1 + 1/4) = 1.1x torch's own error. Measured on a
#: MiniLM SST-2 student (int8, real dev sentences, batch 32 x 128, ten batches): 0.73-1.66x, median
#: 1.0x, while ORT's int8 stayed closer to the float twin than torch's (0.05-0.10 vs 0.12-0.25) and
#: flipped no more predictions; on a barely trained MiniLM 0.98-1.4x. 3x leaves room for the max over
#: a batch; a lost operation (a plugin's hook, a scale) shows far above it.
ROUNDING_FACTOR = 3.0
#: |recorded - ORT| of a dev metric for ``greenprune export``: a hundredth of the metric, the share
#: int8 quantization itself may cost (issue 20: "keeps >= 99% of the student's score").
METRIC_TOLERANCE = 0.01
QUANTIZER = "onnxruntime.quantization.quantize_dynamic"


class DequantizedLinear(nn.Module):
    """An int8 Linear's computation in float, written as ``x @ W^T + b`` with ``W^T`` stored, so the
    exporter writes a MatMul with a constant weight for every input rank (``nn.Linear`` on 2-D input
    becomes a Gemm, which ORT's dynamic quantizer leaves float)."""

    def __init__(self, q: Int8Linear) -> None:
        super().__init__()
        weight, bias = q._weight_bias()
        self.weight_t = nn.Parameter(weight.dequantize().t().contiguous(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False) if bias is not None else None
        self.scales = weight.q_per_channel_scales().tolist()
        self.zero_points = weight.q_per_channel_zero_points().tolist()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight_t)
        return y + self.bias if self.bias is not None else y


def float_twin(model: nn.Module) -> tuple[nn.Module, list[DequantizedLinear]]:
    """A copy of ``model`` with every int8 Linear as its dequantized float MatMul (int8 embeddings kept)."""
    twin = copy.deepcopy(model).eval()
    linears = []
    for name, module in list(twin.named_modules()):
        if isinstance(module, Int8Linear):
            linears.append(DequantizedLinear(module))
            for hooks in _HOOKS:  # a plugin's hook on the projection (as torch's own swap keeps them)
                getattr(linears[-1], hooks).update(getattr(module, hooks))
            set_module(twin, name, linears[-1])
    return twin, linears


_HOOKS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
          "_forward_hooks_always_called")


def rule_for(model: nn.Module, twin: nn.Module, batch: dict[str, Any]) -> ParityRule:
    """The int8 parity rule for ``model``, measured on ``batch`` (see :data:`ROUNDING_FACTOR`)."""
    with torch.inference_mode():
        got, ref = model(**batch), twin(**batch)
    own = max(float((got[k] - ref[k]).abs().max()) for k in got if isinstance(got[k], torch.Tensor))
    return ParityRule(tolerance=max(ROUNDING_FACTOR * own, PARITY_TOLERANCE), metric_tolerance=METRIC_TOLERANCE,
                      why=f"int8: {ROUNDING_FACTOR:g} x the PyTorch student's own int8 rounding error {own:.3g} "
                          "(vs its float twin) on the export batch; ORT rounds activations to 8 bits, torch to 7")


def _digest(array: Any) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest() + str(array.shape)


def export_int8(model: nn.Module, batch: dict[str, Any], path: Path) -> OnnxExport | None:
    """The int8 student as an int8 ONNX file (see the module docstring); ``None`` for other models."""
    if not any(isinstance(m, Int8Linear) for m in model.modules()):
        return None
    import onnx
    import onnxruntime
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    twin, linears = float_twin(model)
    by_digest = {_digest(lin.weight_t.detach().numpy()): lin for lin in linears}
    with tempfile.TemporaryDirectory(prefix="greenprune-int8-onnx-") as tmp:
        float_path = Path(tmp) / "float.onnx"
        outputs = onnx_export(twin, batch, float_path)
        graph = onnx.load(str(float_path)).graph
        # Match each exported weight to its int8 Linear by content (the exporter renames and may
        # fold), and hand ORT that Linear's scales: ORT then stores the student's own int8 values.
        overrides = {}
        for init in graph.initializer:
            lin = by_digest.get(_digest(numpy_helper.to_array(init)))
            if lin is not None:
                overrides[init.name] = [{"axis": 1, "scale": s, "zero_point": int(z)}
                                        for s, z in zip(lin.scales, lin.zero_points, strict=True)]
        if len(overrides) != len(linears):
            raise RuntimeError(f"int8 ONNX export: found {len(overrides)} of the {len(linears)} int8 Linears' "
                               "weights in the exported graph")
        path.parent.mkdir(parents=True, exist_ok=True)
        logging.disable(logging.WARNING)  # the quantizer's advice to pre-process (shape inference) is noise here
        try:
            quantize_dynamic(float_path, path, op_types_to_quantize=["MatMul"], per_channel=True,
                             weight_type=QuantType.QInt8,
                             extra_options={"TensorQuantOverrides": overrides, "MatMulConstBOnly": True})
        finally:
            logging.disable(logging.NOTSET)
    nodes = [n.op_type for n in onnx.load(str(path)).graph.node]
    if nodes.count("MatMulInteger") < len(linears):
        raise RuntimeError(f"int8 ONNX export: ORT's quantizer made {nodes.count('MatMulInteger')} int8 MatMuls "
                           f"of the {len(linears)} int8 Linears")
    return OnnxExport(path, outputs, rule_for(model, twin, batch), {
        "quantizer": f"{QUANTIZER} (onnxruntime {onnxruntime.__version__})",
        "quantization": "MatMulInteger: int8 weights per output channel (the PyTorch student's own values and "
                        "scales), uint8 activations quantized per batch; int8 embedding rows dequantized per lookup",
        "int8_matmuls": nodes.count("MatMulInteger")})
