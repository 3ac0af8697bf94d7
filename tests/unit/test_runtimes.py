"""ONNX export and ONNX Runtime beside eager PyTorch, the runtime matrix, and peak memory windows.

Tiny random models; the ONNX tests skip when the ``onnx`` extra is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from greenprune.config import InferenceConfig
from greenprune.memory import peak_memory, weight_bytes
from greenprune.structure.compact import compact_classes


def _hf(labels: int = 2) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, num_labels=labels)
    return BertForSequenceClassification(cfg).eval()


def _compact() -> torch.nn.Module:
    # uneven layers and a layer without attention: the shapes CoFi leaves
    torch.manual_seed(0)
    classes = compact_classes("bert")
    return classes.sequence(classes.config.from_hf_config(_hf(1).config, layer_heads=[1, 0, 3],
                                                          layer_ffn=[8, 24, 0])).eval()


def _batch(n: int, seq: int, vocab: int = 60) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(n * 100 + seq)
    ids = torch.randint(1, vocab, (n, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[0, seq // 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


@pytest.mark.parametrize("make", [_hf, _compact], ids=["hf-bert", "compact"])
def test_onnx_export_matches_pytorch_at_other_shapes(make: object, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from greenprune.onnx_runtime import PARITY_TOLERANCE, OrtModel, export, parity

    model = make()  # type: ignore[operator]
    assert export(model, _batch(2, 8), tmp_path / "m.onnx") == ["logits"]
    ort_model = OrtModel(tmp_path / "m.onnx", threads=1)
    for n, seq in ((1, 5), (3, 17)):  # batch and sequence are dynamic axes
        check = parity(model, ort_model, _batch(n, seq))
        assert check.ok and check.max_abs_diff <= check.tolerance == PARITY_TOLERANCE
        assert check.argmax_agreement == (1.0 if model.config.num_labels > 1 else None)
    out = ort_model(input_ids=_batch(3, 9)["input_ids"])  # missing mask / token types default like HF
    assert out.logits.shape == (3, model.config.num_labels)
    assert next(ort_model.parameters()).device.type == "cpu"


def test_runtime_matrix_cells(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from greenprune.runtime_matrix import runtime_matrix

    class Tok:
        def __call__(self, a: list[str], b: object, **kw: object) -> dict[str, torch.Tensor]:
            return _batch(len(a), int(kw["max_length"]))  # type: ignore[call-overload]

    cfg = InferenceConfig(runtimes=["eager", "onnxruntime"], matrix_batch_sizes=[1, 2], matrix_threads=[1],
                          seq_length=8, warmup=0, repeats=2)
    cells = runtime_matrix({"teacher": _hf(1), "student": _compact()}, [{"text_a": "x"}], Tok(), cfg, [])
    for figs in cells.values():
        assert sorted((c.runtime, c.batch_size, c.threads) for c in figs) == [
            ("eager", 1, 1), ("eager", 2, 1), ("onnxruntime", 1, 1), ("onnxruntime", 2, 1)]
        for c in figs:
            assert c.latency_ms_median > 0 and c.memory is not None and c.memory.weight_bytes
            if c.runtime == "onnxruntime":
                assert c.parity_max_abs_diff is not None and c.parity_max_abs_diff <= c.parity_tolerance
                assert c.runtime_info["onnxruntime"] and c.runtime_info["providers"] == ["CPUExecutionProvider"]


def test_peak_memory_sees_an_allocation_and_nests() -> None:
    with peak_memory() as outer:
        with peak_memory() as inner:
            block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
            del block
        with peak_memory():
            pass  # a later nested window resets the kernel's mark; the outer one must still see 64 MiB
    assert inner.peak_rss_delta_bytes is not None and inner.peak_rss_delta_bytes >= 48 * 2**20
    assert outer.peak_rss_delta_bytes is not None and outer.peak_rss_delta_bytes >= 48 * 2**20
    assert weight_bytes(_hf()) == sum(p.numel() * 4 for p in _hf().parameters()) + sum(
        b.numel() * b.element_size() for b in _hf().buffers())


def test_unknown_runtime_is_refused_in_one_line() -> None:
    from greenprune.config import build_config
    from greenprune.errors import UserError

    with pytest.raises(UserError, match="runtimes"):
        build_config(sets=['inference.runtimes=["tensorrt"]'])
