"""QA through the compressors and tuners: CoFi, distill, adapters and the qa evaluator, on tiny random BERTs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from greenprune_builtins.cofi import Cofi, CofiOptions
from greenprune_builtins.cofi.distillation import prediction_loss as cofi_prediction_loss
from greenprune_builtins.distill import Distill, DistillOptions
from greenprune_builtins.distill_student import prediction_loss as distill_prediction_loss
from greenprune_builtins.finetune import Finetune, FinetuneOptions
from greenprune_builtins.qa_evaluator import QAEvaluator
from transformers.modeling_outputs import QuestionAnsweringModelOutput

from greenprune.compression import CompressJob
from greenprune.config import RunConfig
from greenprune.modeling import ModelBundle
from greenprune.progress import Progress
from greenprune.qa import QATask
from greenprune.tasks import TaskData
from tests.conftest import make_tiny_bert

TASK = QATask(name="squad", title="SQuAD", kind="qa", num_labels=2, metrics=("exact_match", "f1"),
              primary_metric="f1", evaluator="qa", max_length=48, doc_stride=16, max_query_length=12)


def qa_rows(n: int) -> list[dict[str, Any]]:
    teams = ["Denver Broncos", "Carolina Panthers", "New England Patriots", "Green Bay Packers"]
    rows = []
    for i in range(n):
        team = teams[i % len(teams)]
        context = f"In game {i} the {team} won the title after a long season of hard matches."
        rows.append({"id": str(i), "question": f"Who won game {i}?", "context": context,
                     "answers": {"text": [team], "answer_start": [context.index(team)]},
                     "text_a": f"Who won game {i}?", "text_b": context})
    return rows


def qa_job(tmp_path: Path, tuner: Any, sparsity: float = 0.5) -> tuple[Any, CompressJob]:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    folder = make_tiny_bert(tmp_path / "bert", layers=3)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    rows = qa_rows(24)
    data = TaskData(train=rows, dev={"dev": rows[:6]}, source="test")
    teacher = ModelBundle(model, tok, "tiny", "finetuned")
    cfg = RunConfig(task="squad", sparsity=sparsity,
                    train={"epochs": 2, "batch_size": 8, "eval_batch_size": 4, "logging_steps": 1})
    ctx = SimpleNamespace(config=cfg, progress=Progress(quiet=True), options=lambda n: {})
    return ctx, CompressJob(current=teacher, teacher=teacher, pretrained=teacher, task=TASK, data=data,
                            tuner=tuner, sparsity=sparsity)


def test_prediction_losses_cover_start_and_end() -> None:
    torch.manual_seed(0)
    s = QuestionAnsweringModelOutput(start_logits=torch.randn(3, 7), end_logits=torch.randn(3, 7))
    t = QuestionAnsweringModelOutput(start_logits=torch.randn(3, 7), end_logits=torch.randn(3, 7))

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(a / 2, -1), F.softmax(b / 2, -1), reduction="batchmean") * 4

    expected = (kl(s.start_logits, t.start_logits) + kl(s.end_logits, t.end_logits)) / 2
    for fn in (cofi_prediction_loss, distill_prediction_loss):
        assert float(fn(s, t, 2.0)) == pytest.approx(float(expected), rel=1e-5)
        assert float(fn(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)
        # plain logits keep working as before
        assert float(fn(s.start_logits, t.start_logits, 2.0)) == pytest.approx(float(kl(s.start_logits,
                                                                                        t.start_logits)), rel=1e-5)


def test_cofi_prunes_a_qa_model_exactly_and_it_reloads(tmp_path: Path) -> None:
    from transformers import AutoModelForQuestionAnswering

    import greenprune.structure.compact  # noqa: F401  (registers the compact classes with the Auto classes)

    ctx, job = qa_job(tmp_path, Finetune(FinetuneOptions()))
    phase = Cofi(CofiOptions(mask_lr=0.5, lambda_lr=0.5, mask_init={"hidden": 0.0})).compress(ctx, job)
    bundle, details = phase.value, phase.details
    model = bundle.model
    assert type(model).__name__ == "CompactBertForQuestionAnswering"
    assert details["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    assert {"pred", "layer"} <= set(phase.trace[-1])
    model.save_pretrained(tmp_path / "student")
    again = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "student").eval()
    inputs = job.teacher.tokenizer(["Who won?"], ["The Denver Broncos won."], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(again(**inputs).end_logits, model.eval()(**inputs).end_logits)
    scores = QAEvaluator().evaluate(ctx, bundle, TASK, job.data)
    assert set(scores["dev"]) == {"exact_match", "f1"} and 0 <= scores["dev"]["f1"] <= 100


def test_cofi_with_adapters_on_qa(tmp_path: Path) -> None:
    from greenprune_builtins.adapter import AdapterOptions, AdapterTuner
    from greenprune_builtins.adapters.modules import adapter_specs

    ctx, job = qa_job(tmp_path, AdapterTuner(AdapterOptions(bottleneck=4)), sparsity=0.6)
    phase = Cofi(CofiOptions(mask_lr=0.5, lambda_lr=0.5, mask_init={"hidden": 0.0})).compress(ctx, job)
    bundle, details = phase.value, phase.details
    assert adapter_specs(bundle.model) and details["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    job.tuner.prepare(bundle)  # what the tuning phase does next: the QA head trains with the adapters
    trainable = {n for n, p in bundle.model.named_parameters() if p.requires_grad}
    assert "qa_outputs.weight" in trainable and not any(".attention.self." in n for n in trainable)


def test_distill_a_qa_model(tmp_path: Path) -> None:
    ctx, job = qa_job(tmp_path, Finetune(FinetuneOptions()))
    phase = Distill(DistillOptions(layers=1)).compress(ctx, job)
    bundle = phase.value
    assert bundle.model.config.num_hidden_layers == 1 and hasattr(bundle.model, "qa_outputs")
    assert phase.trace and "kd" in phase.trace[-1] and "hard" in phase.trace[-1]


def test_finetune_cache_reloads_the_qa_head(tmp_path: Path) -> None:
    from greenprune.finetuning import finetune_cached

    ctx, job = qa_job(tmp_path, Finetune(FinetuneOptions()))
    ctx.cache_dir = tmp_path / "cache"
    cfg = ctx.config.train.model_copy(update={"epochs": 1})
    first = finetune_cached(ctx, job.pretrained, TASK, job.data, cfg, "teacher")
    again = finetune_cached(ctx, job.pretrained, TASK, job.data, cfg, "teacher")
    assert not first.cache_hit and again.cache_hit and again.trace == first.trace
    assert again.details["cache_key"] == first.details["cache_key"]
    assert type(again.value.model).__name__ == "BertForQuestionAnswering"
    wider = QATask(**{**TASK.__dict__, "max_length": 64})  # other windows, other features: another entry
    assert finetune_cached(ctx, job.pretrained, wider, job.data, cfg, "teacher").cache_hit is False
