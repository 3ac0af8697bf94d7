"""The GLUE task plugin's Hub loader, offline: it fails fast with a hint to use a local
folder, falls back to a cached copy, and turns any Hub failure into one line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from greenprune_builtins.tasks import glue_readers

from greenprune.errors import UserError


def _clear_offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def _isolated_hf_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the datasets/hub caches at an empty folder, so a cached GLUE cannot make the Hub work."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_CACHE", str(tmp_path / "hf-hub"), raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))


def test_hub_offline_fails_fast_with_data_dir_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    _isolated_hf_cache(monkeypatch, tmp_path)
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        glue_readers.load_hub("mrpc")
    assert time.monotonic() - start < 20
    message = str(err.value)
    assert message.startswith("cannot load GLUE task 'mrpc' from the Hugging Face Hub (offline or")
    assert "--data-dir DIR" in message and "GREENPRUNE_DATA_DIR" in message
    assert "\n" not in message


def test_unreachable_hub_is_loaded_cache_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no offline variable set but no network, the library's ~25 s of retries are avoided:
    datasets runs in offline mode (cache only), and the flags are restored afterwards."""
    import datasets
    import huggingface_hub.constants

    _clear_offline_env(monkeypatch)
    monkeypatch.setattr(glue_readers, "_probe_hub", lambda: "cannot reach huggingface.co:443: no route")
    seen: dict[str, Any] = {}

    def fake_load_dataset(path: str, name: str) -> Any:
        seen.update(path=path, name=name, offline=(datasets.config.HF_HUB_OFFLINE,
                                                    huggingface_hub.constants.HF_HUB_OFFLINE))
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)")

    before = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(UserError, match=r"unreachable: cannot reach huggingface\.co:443: no route\); pass"):
        glue_readers.load_hub("cola")
    assert seen == {"path": "nyu-mll/glue", "name": "cola", "offline": (True, True)}
    assert before == (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)


def test_hub_failure_of_any_kind_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    _clear_offline_env(monkeypatch)
    monkeypatch.setattr(glue_readers, "_offline_reason", lambda: None)

    def broken(path: str, name: str) -> Any:
        raise RuntimeError("server said:\n  500 Internal Error")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(UserError) as err:
        glue_readers.load_hub("rte")
    assert "RuntimeError: server said: 500 Internal Error" in str(err.value)
    assert "\n" not in str(err.value)


def test_hub_rows_become_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(glue_readers, "_offline_reason", lambda: None)

    def fake_load_dataset(path: str, name: str) -> dict[str, Any]:
        def split(n: int) -> Any:
            if name == "stsb":
                return datasets.Dataset.from_dict({"sentence1": ["a"] * n, "sentence2": ["b"] * n,
                                                   "label": [3.5] * n, "idx": list(range(n))})
            return datasets.Dataset.from_dict({"premise": ["p"] * n, "hypothesis": ["h"] * n,
                                               "label": [2] * n, "idx": list(range(n))})

        if name == "mnli":
            return {"train": split(3), "validation_matched": split(2), "validation_mismatched": split(1),
                    "test_matched": split(1)}
        return {"train": split(2), "validation": split(1), "test": split(1)}

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    mnli = glue_readers.load_hub("mnli")
    assert mnli.source == "hub:nyu-mll/glue/mnli"
    assert mnli.sizes() == {"train": 3, "dev_matched": 2, "dev_mismatched": 1}
    assert mnli.train[0] == {"text_a": "p", "text_b": "h", "label": 2}
    stsb = glue_readers.load_hub("stsb")
    assert stsb.sizes() == {"train": 2, "dev": 1}
    assert stsb.dev["dev"][0] == {"text_a": "a", "text_b": "b", "label": 3.5}


