"""The int8 student in ONNX Runtime: exported through the quantize plugin's ``greenprune_export_onnx``
as an int8 graph made by ORT's quantizer, holding the PyTorch student's own int8 weights, checked
against the PyTorch int8 student by the stated rule, and measured in the runtime matrix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from greenprune_builtins.int8.io import mark
from greenprune_builtins.int8.modules import Int8Linear, quantize_embeddings, quantize_linears
from greenprune_builtins.int8.onnx import ROUNDING_FACTOR, float_twin

from greenprune.config import InferenceConfig
from greenprune.memory import weight_bytes
from greenprune.onnx_runtime import PARITY_TOLERANCE, OrtModel, export_model, parity
from greenprune.plugins import make_plugin_manager
from tests.plugins.test_quantize import WORD, tiny
from tests.unit.test_runtimes import _batch, _compact

pytest.importorskip("onnxruntime")


def int8(model: torch.nn.Module, embeddings: list[str]) -> torch.nn.Module:
    q = copy.deepcopy(model)
    quantize_embeddings(q, embeddings)
    mark(q, quantize_linears(q), embeddings)
    return q


def batch(n: int, seq: int) -> dict[str, torch.Tensor]:
    return _batch(n, seq, vocab=1000)  # tiny()'s vocabulary


def test_the_core_exporter_cannot_take_an_int8_student_but_the_plugin_can(tmp_path: Path) -> None:
    q = int8(tiny(), [WORD])
    with pytest.raises(RuntimeError):  # torch's packed int8 Linear does not trace
        export_model(q, batch(2, 8), tmp_path / "core.onnx")
    done = export_model(q, batch(4, 16), tmp_path / "q.onnx", pm=make_plugin_manager())
    assert done.outputs == ["logits"] and done.path.is_file()
    assert done.info["quantizer"].startswith("onnxruntime.quantization.quantize_dynamic")
    assert done.info["int8_matmuls"] == sum(isinstance(m, Int8Linear) for m in q.modules()) == 14
    # the rule is measured: ROUNDING_FACTOR x the PyTorch student's own int8 error vs its float twin
    twin, _ = float_twin(q)
    with torch.no_grad():
        own = float((q(**batch(4, 16)).logits - twin(**batch(4, 16)).logits).abs().max())
    assert done.rule.tolerance == pytest.approx(max(ROUNDING_FACTOR * own, PARITY_TOLERANCE))
    assert "int8" in done.rule.why and done.rule.metric_tolerance == 0.01
    # a float model is not the plugin's: the core exports it, held to float32's 1e-4
    plain = export_model(tiny(), batch(2, 8), tmp_path / "f.onnx", pm=make_plugin_manager())
    assert plain.rule.tolerance == PARITY_TOLERANCE and not plain.info


def test_the_onnx_file_holds_the_students_own_int8_weights_and_runs_int8(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    q = int8(tiny(), [WORD])
    export_model(q, batch(2, 8), tmp_path / "q.onnx", pm=make_plugin_manager())
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    stored = {numpy_helper.to_array(i).tobytes() for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    for m in q.modules():
        if isinstance(m, Int8Linear):  # ORT stores W^T: the same int8 values, transposed
            assert m._weight_bias()[0].int_repr().t().contiguous().numpy().tobytes() in stored
    assert q.get_submodule(WORD).weight_int8.numpy().tobytes() in stored  # the int8 table, not a float copy
    ops = [n.op_type for n in graph.node]
    assert ops.count("MatMulInteger") == 14 and "Gemm" not in ops
    # no float copy of a Linear weight is left: the float tensors are those the int8 student keeps float
    float_left = sum(numpy_helper.to_array(i).nbytes for i in graph.initializer
                     if i.data_type == onnx.TensorProto.FLOAT)
    kept_float = sum(t.numel() * 4 for t in q.state_dict().values() if t.dtype == torch.float32)
    assert float_left <= kept_float
    export_model(tiny(), batch(2, 8), tmp_path / "f.onnx")
    assert (tmp_path / "q.onnx").stat().st_size < 0.55 * (tmp_path / "f.onnx").stat().st_size


@pytest.mark.parametrize("make", [lambda: tiny(), lambda: _compact()], ids=["hf-bert", "compact"])
def test_int8_onnx_is_at_parity_with_the_pytorch_int8_student_at_other_shapes(make: object, tmp_path: Path) -> None:
    model = make()  # type: ignore[operator]
    vocab = model.get_input_embeddings().num_embeddings
    word = [n for n, m in model.named_modules() if m is model.get_input_embeddings()]
    q = int8(model, word)
    make_batch = batch if vocab == 1000 else _batch
    done = export_model(q, make_batch(4, 16), tmp_path / "q.onnx", pm=make_plugin_manager())
    ort_model = OrtModel(done.path, threads=1)
    for n, seq in ((1, 5), (3, 17)):  # dynamic batch and sequence
        check = parity(q, ort_model, make_batch(n, seq), done.rule)
        assert check.ok, check
        assert check.max_abs_diff > 0  # two int8 kernels: close, not identical
    # and much closer to the int8 student than to the float model it came from
    with torch.no_grad():
        to_fp32 = float((model(**make_batch(3, 17)).logits - q(**make_batch(3, 17)).logits).abs().max())
    assert parity(q, ort_model, make_batch(3, 17), done.rule).max_abs_diff <= max(2 * to_fp32, PARITY_TOLERANCE)


def test_weight_bytes_count_the_int8_weights() -> None:
    model = tiny()
    q = int8(model, [WORD])
    fp32, i8 = weight_bytes(model), weight_bytes(q)
    linear_int8 = sum(m._weight_bias()[0].numel() for m in q.modules() if isinstance(m, Int8Linear))
    assert i8 >= linear_int8 + 1000 * 64  # packed Linear weights and the int8 table, one byte each
    assert i8 < 0.45 * fp32


def test_runtime_matrix_measures_an_int8_student_in_both_runtimes() -> None:
    from greenprune.runtime_matrix import runtime_matrix

    class Tok:
        def __call__(self, a: list[str], b: object, **kw: object) -> dict[str, torch.Tensor]:
            return batch(len(a), int(kw["max_length"]))  # type: ignore[call-overload]

    cfg = InferenceConfig(runtimes=["eager", "onnxruntime"], matrix_batch_sizes=[1, 4], matrix_threads=[1],
                          seq_length=16, warmup=0, repeats=2)
    teacher = tiny()
    cells = runtime_matrix({"teacher": teacher, "student": int8(teacher, [WORD])}, [{"text_a": "x"}], Tok(), cfg,
                           [], pm=make_plugin_manager())
    student = {(c.runtime, c.batch_size): c for c in cells["student"]}
    assert sorted(student) == [("eager", 1), ("eager", 4), ("onnxruntime", 1), ("onnxruntime", 4)]
    for (runtime, _), c in student.items():
        assert c.memory is not None and c.memory.peak_rss_delta_bytes is not None
        assert c.memory.weight_bytes == weight_bytes(int8(teacher, [WORD]))
        if runtime == "onnxruntime":
            assert c.memory.runtime_load_bytes is not None
            assert c.parity_max_abs_diff is not None and c.parity_tolerance is not None
            assert c.parity_max_abs_diff <= c.parity_tolerance and c.parity_tolerance > PARITY_TOLERANCE
            assert c.parity_rule is not None and "int8" in c.parity_rule
            assert c.parity_argmax_agreement is not None and 0 <= c.parity_argmax_agreement <= 1
            assert "onnxruntime.quantization" in c.runtime_info["quantizer"]
    teacher_ort = next(c for c in cells["teacher"] if c.runtime == "onnxruntime")
    assert teacher_ort.parity_tolerance == PARITY_TOLERANCE and "float32" in (teacher_ort.parity_rule or "")
    assert "quantizer" not in teacher_ort.runtime_info


def test_a_hook_on_an_int8_projection_is_exported_too(tmp_path: Path) -> None:
    q = int8(tiny(), [WORD])
    with torch.no_grad():
        plain = q(**batch(3, 17)).logits
    # a plugin's hook on an int8 projection (an adapter's fallback site is ``dense``)
    q.get_submodule("classifier").register_forward_hook(lambda _m, _a, out: out + torch.tensor([1.0, -1.0]))
    twin, _ = float_twin(q)
    with torch.no_grad():
        hooked, twinned = q(**batch(3, 17)).logits, twin(**batch(3, 17)).logits
    assert (twinned - hooked).abs().max() < 0.1 * (hooked - plain).abs().max()  # the twin kept the hook
    done = export_model(q, batch(4, 16), tmp_path / "q.onnx", pm=make_plugin_manager())
    assert parity(q, OrtModel(done.path, threads=1), batch(3, 17), done.rule).ok
