"""The ``quantize`` compressor: post-training dynamic int8 quantization (PyTorch's own
``torch.ao.quantization.quantize_dynamic``) of every Linear, and weight-only int8 word embeddings.

It is *post-training* (``Component.post_training``): the core runs it after the tuner wherever the
chain names it, so ``--compressor cofi --compressor quantize`` quantizes the tuned CoFi student, and
the result keeps the metric before (``student_before_post_training``) and after (``student``).

Linears get int8 weights with a scale per output channel; activations are quantized per batch at run
time (fbgemm/x86 kernels, CPU only). The word embeddings, most of a pruned MiniLM's bytes, are stored
as int8 with a scale per row and dequantized per looked-up row (``embeddings=false`` keeps them
float). The student saves with ``save_pretrained`` as int8 tensors and reloads through this plugin's
``greenprune_load_student``; the phase records bytes and bytes per dtype read from the saved files,
before and after. In ONNX Runtime (the runtime matrix, ``greenprune export``) the student runs as an
int8 graph made by ORT's own quantizer from its very weights (``greenprune_export_onnx``, ``int8/onnx.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import (
    Component,
    CompressJob,
    Compressor,
    ModelBundle,
    PhaseOutput,
    RunContext,
    UserError,
    file_dtype_bytes,
    hookimpl,
    student_class,
)


class QuantizeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embeddings: bool = Field(True, description="also store the word embeddings as int8 (weight-only, a scale "
                             "per row); they are most of a pruned MiniLM's bytes")


class Quantize(Compressor):
    name = "quantize"

    def __init__(self, options: QuantizeOptions) -> None:
        self.options = options

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        from greenprune_builtins.int8.io import mark
        from greenprune_builtins.int8.modules import quantize_embeddings, quantize_linears

        student = job.current.clone(origin=f"compressed:{self.name}")
        model = student.model.cpu().eval()  # torch's dynamic int8 kernels run on the CPU only
        if _has_int8(model):
            raise UserError("quantize: the model is already int8; name quantize once in the chain")
        before = _saved(model)
        embeddings = []
        if self.options.embeddings and hasattr(model, "get_input_embeddings"):
            word = model.get_input_embeddings()
            embeddings = [n for n, m in model.named_modules() if m is word]
        quantize_embeddings(model, embeddings)
        linears = quantize_linears(model)
        mark(model, linears, embeddings)
        after = _saved(model)
        ctx.progress.say(f"quantize: {len(linears)} Linears int8 (dynamic), {len(embeddings)} embedding table(s) "
                         f"int8; {before['bytes']:,} -> {after['bytes']:,} bytes on disk "
                         f"({after['bytes'] / before['bytes']:.3f}x)")
        return PhaseOutput(student, {
            "linears": len(linears), "embeddings": embeddings, "engine": _engine(),
            "scheme": "dynamic int8, per-channel weight scales; embeddings weight-only int8 per row",
            "bytes_before": before["bytes"], "bytes_after": after["bytes"],
            "bytes_ratio": after["bytes"] / before["bytes"],
            "bytes_by_dtype_before": before["by_dtype"], "bytes_by_dtype_after": after["by_dtype"]})


def _saved(model: Any) -> dict[str, Any]:
    import tempfile
    from pathlib import Path


    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        files = sorted(Path(tmp).glob("*.safetensors"))
        return {"bytes": sum(f.stat().st_size for f in files), "by_dtype": file_dtype_bytes(files)}


def _has_int8(model: Any) -> bool:
    from greenprune_builtins.int8.modules import Int8Embedding, Int8Linear

    return any(isinstance(m, (Int8Linear, Int8Embedding)) for m in model.modules())


def _engine() -> str:
    import torch

    return str(torch.backends.quantized.engine)


@hookimpl
def greenprune_register_compressors(register: Any) -> None:
    register(Component("quantize", factory=Quantize, options=QuantizeOptions, post_training=True,
                       accepts_own_output=False,
                       description="post-training dynamic int8 quantization of the Linears (+ int8 word "
                       "embeddings); runs after the tuner wherever the chain names it; CPU"))


@hookimpl
def greenprune_load_student(path: Any) -> Any:
    """A student this plugin saved as int8: rebuild the float skeleton, then load the int8 tensors."""
    import json
    from pathlib import Path

    from greenprune_builtins.int8.io import CONFIG_KEY, load_int8

    config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    if not config.get(CONFIG_KEY):
        return None
    return load_int8(path, student_class(config.get("architectures"), config.get("model_type")))


@hookimpl
def greenprune_export_onnx(model: Any, batch: dict[str, Any], path: Any) -> Any:
    """An int8 student this plugin made, as an int8 ONNX graph quantized by ONNX Runtime's own tool."""
    from pathlib import Path

    from greenprune_builtins.int8.onnx import export_int8

    return export_int8(model, batch, Path(path))
