"""Compact students saved before the model-structure layer (``model_type`` ``greenprune-bert``, class
``CompactBertForSequenceClassification``, keys under ``bert.``) still load, by every route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

#: config.json exactly as greenprune wrote it before (a pruned 2-layer student; only weights vary)
OLD_CONFIG = {
    "architectures": ["CompactBertForSequenceClassification"], "attention_probs_dropout_prob": 0.1,
    "classifier_dropout": None, "dtype": "float32", "head_size": 8, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
    "kept_hidden": 16, "layer_ffn": [0, 24], "layer_heads": [2, 1], "layer_norm_eps": 1e-12,
    "max_position_embeddings": 160, "model_type": "greenprune-bert", "num_attention_heads": 4,
    "num_hidden_layers": 2, "pad_token_id": 0, "problem_type": "single_label_classification",
    "transformers_version": "5.24.0", "type_vocab_size": 2, "vocab_size": 100,
}


def old_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Write the old config and weights under the old names; return the weights."""
    from safetensors.torch import save_file

    from greenprune.structure.compact import compact_classes

    classes = compact_classes("bert")
    fields = {k: v for k, v in OLD_CONFIG.items() if k not in ("architectures", "dtype", "transformers_version")}
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in classes.sequence(classes.config(**fields)).state_dict().items()}
    assert all(k.startswith(("bert.", "classifier.")) for k in state)
    path.mkdir()
    save_file(state, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps(OLD_CONFIG))
    return state


def test_old_compact_student_loads(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from greenprune.saved import model_class
    from greenprune.structure.compact import load_compact

    state = old_checkpoint(tmp_path / "old")
    cls = model_class(OLD_CONFIG["architectures"], OLD_CONFIG["model_type"])
    assert cls.__name__ == "CompactBertForSequenceClassification"
    ids = torch.randint(1, 100, (2, 9))
    outs = []
    for model in (cls.from_pretrained(tmp_path / "old"), AutoModelForSequenceClassification.from_pretrained(
            tmp_path / "old"), load_compact(tmp_path / "old")):
        assert type(model).__name__ == "CompactBertForSequenceClassification"
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
        assert model.config.positions_after_padding is False and model.config.layer_heads == [2, 1]
        with torch.no_grad():
            outs.append(model.eval()(input_ids=ids).logits)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
