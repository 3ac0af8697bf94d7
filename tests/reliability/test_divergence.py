"""A diverged run (the loss is NaN or inf) stops at the step it happens, with one line, and the
result says failed: never an "ok" run that learnt nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenprune.config import TrainConfig
from greenprune.progress import Progress
from tests.integration.test_cli import run


def test_a_nan_loss_stops_training_at_that_step(tiny_teacher: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from greenprune.training import NonFiniteLoss, train

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_teacher), num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_teacher))
    features = [{**tokenizer("a b c"), "labels": i % 2} for i in range(40)]
    calls = []

    def loss_fn(m: object, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        calls.append(1)
        out = m(**batch)  # type: ignore[operator]
        loss = out.loss * (float("nan") if len(calls) == 3 else 1.0)
        return loss, {"loss": float(loss.detach())}

    with pytest.raises(NonFiniteLoss, match="step 3 of 10") as caught:
        train(model, features, tokenizer, TrainConfig(epochs=1, batch_size=4), seed=0,
              progress=Progress(quiet=True), description="teacher: finetune", loss_fn=loss_fn)
    assert len(calls) == 3 and "\n" not in str(caught.value) and "learning_rate" in str(caught.value)


@pytest.mark.slow
def test_a_diverged_bench_is_recorded_as_failed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--compressor", "none", "--out", str(out), "--meter", "cpu-estimate",
                        "--set", "inference.enabled=false",
                        *fast_flags, "--set", "train.learning_rate=1e30"], capsys)
    assert code == 1, err
    (line,) = (out / "results.jsonl").read_text().splitlines()
    result = json.loads(line)
    assert result["status"] == "failed" and "loss is" in result["error"] and "step" in result["error"]
