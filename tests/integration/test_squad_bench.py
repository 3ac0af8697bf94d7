"""``greenprune bench --task squad`` end to end on a tiny random BERT and a tiny SQuAD file:
teacher fine-tune, CoFi, tuning, SQuAD evaluation, inference, saved student, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST
from tests.integration.test_cli import run
from tests.plugins.test_squad import squad_json, write

pytestmark = pytest.mark.slow

#: window settings that fit the tiny BERT (160 positions) and keep the run to seconds
QA_FLAGS = ["--set", "squad.max_length=48", "--set", "squad.doc_stride=16", "--set", "squad.max_query_length=12",
            "--set", "squad.train_articles=0.75"]


@pytest.fixture
def qa_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the plugins' entry points are installed, register their modules with every plugin
    manager the CLI builds (the same objects the entry points name)."""
    from greenprune import plugins, runner

    if {"squad", "qa-evaluator"} <= set(plugins.available_plugin_names()):
        return
    from greenprune_builtins import qa_evaluator
    from greenprune_builtins.tasks import squad

    original = plugins.make_plugin_manager

    def with_qa(disable: Any = (), extra_plugins: Any = (), load_entry_points: bool = True) -> Any:
        return original(disable, [*extra_plugins, squad, qa_evaluator], load_entry_points)

    monkeypatch.setattr(plugins, "make_plugin_manager", with_qa)
    monkeypatch.setattr(runner, "make_plugin_manager", with_qa)


@pytest.mark.usefixtures("qa_plugins")
def test_squad_bench_with_cofi(tmp_path: Path, tiny_teacher: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForQuestionAnswering

    import greenprune.structure.compact  # noqa: F401  (registers the compact classes with the Auto classes)

    write(tmp_path / "data" / "squad", "dev-v1.1.json", squad_json(8, questions=4))
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--task", "squad", "--data-dir", str(tmp_path / "data"),
                        "--teacher", str(tiny_teacher), "--compressor", "cofi", "--sparsity", "0.5",
                        "--meter", "cpu-estimate", "--set", f"cache_dir={tmp_path / 'cache'}",
                        "--set", "cofi.mask_lr=0.5", "--set", "cofi.lambda_lr=0.5",
                        *FAST[:-4], *QA_FLAGS], capsys)
    assert code == 0, err
    (r,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert r["status"] == "ok", r.get("error")
    assert r["task"]["kind"] == "qa" and r["task"]["qa"]["doc_stride"] == 16
    assert r["task"]["sizes"] == {"train": 24, "dev": 8}
    assert any("split by article" in n for n in r["task"]["notes"])
    for model in ("teacher", "student"):
        assert set(r[model]["metrics"]["dev"]) == {"exact_match", "f1"}
        assert r[model]["inference"]["latency_ms_median"] > 0
    cofi = next(p for p in r["phases"] if p["name"] == "compress:cofi")
    assert cofi["details"]["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    student = AutoModelForQuestionAnswering.from_pretrained(r["extra"]["student_path"])
    assert student.config.model_type == "greenprune-bert"
    assert "f1" in (out / "report.md").read_text()
