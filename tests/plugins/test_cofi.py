"""CoFi: controller, distillation mapping, and the compressor end to end on tiny random BERTs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from greenprune_builtins.cofi import Cofi, CofiOptions
from greenprune_builtins.cofi.distillation import default_teacher_layers, layer_loss
from greenprune_builtins.cofi.lagrangian import LagrangianController
from greenprune_builtins.finetune import Finetune, FinetuneOptions

from greenprune.compression import CompressJob
from greenprune.config import RunConfig
from greenprune.modeling import ModelBundle
from greenprune.progress import Progress
from greenprune.tasks import Task, TaskData
from tests.conftest import make_tiny_bert


@pytest.mark.parametrize(("layers", "expected"), [(12, [3, 6, 9, 12]), (6, [3, 6]), (4, [2, 4]), (2, [1, 2]),
                                                   (24, [3, 6, 9, 12, 15, 18, 21, 24])])
def test_default_teacher_layers_any_depth(layers: int, expected: list[int]) -> None:
    assert default_teacher_layers(layers) == expected


def test_target_warms_up_linearly_after_prepruning() -> None:
    c = LagrangianController(0.8, warmup_steps=10, start_step=5, lr=0.1)
    assert [c.target_at(s) for s in (0, 4, 5, 10, 15, 40)] == [0.0, 0.0, 0.0, pytest.approx(0.4), 0.8, 0.8]


def test_lambdas_ascend_while_gates_descend() -> None:
    c = LagrangianController(0.5, warmup_steps=0, start_step=0, lr=0.1)
    s_hat = torch.tensor(0.2, requires_grad=True)  # below target
    for _ in range(3):
        loss, info = c.penalty(s_hat, step=1)
        loss.backward()
        c.optimizer.step()
        c.optimizer.zero_grad()
    # ascent: lambda_1 * (0.2 - 0.5) grows, so lambda_1 goes negative and lambda_2 positive
    assert c.lambdas[0] < 0 < c.lambdas[1]
    # and the gradient on s_hat pushes the sparsity up (towards the target)
    s_hat.grad = None
    c.penalty(s_hat, step=1)[0].backward()
    assert s_hat.grad < 0
    assert set(info) == {"target", "lambda_1", "lambda_2"}


def test_layer_mapping_is_monotone_and_skips_dead_layers() -> None:
    torch.manual_seed(0)
    teacher = tuple(torch.randn(2, 5, 8) for _ in range(5))
    # student layer j equals teacher layer 5 - j: the best unconstrained match would go backwards
    student = (teacher[0], teacher[4], teacher[3], teacher[2], teacher[1])
    ident = torch.nn.Identity()
    mask = torch.ones(2, 5)
    _, mapping = layer_loss(student, teacher, [2, 4], [True] * 4, ident, mask)
    assert mapping == sorted(mapping)
    loss, mapping = layer_loss(student, teacher, [4], [False, True, True, True], ident, mask)
    assert mapping == [2] or mapping[0] >= 2
    assert loss >= 0


def tiny_job(tmp_path: Path, tuner: Any, sparsity: float = 0.5, layers: int = 3, num_labels: int = 2) -> tuple[
    Any, CompressJob
]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = make_tiny_bert(tmp_path / "bert", layers=layers)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=num_labels).eval()
    task = Task("toy", "Toy", "regression" if num_labels == 1 else "classification", num_labels,
                ("accuracy",), "accuracy")
    rows = [{"text_a": f"the film was {w}", "text_b": None, "label": (i % 2) * (1.0 if num_labels == 1 else 1)}
            for i, w in enumerate(["good", "bad", "fine", "awful"] * 8)]
    data = TaskData(train=rows, dev={"dev": rows[:8]}, source="test")
    teacher = ModelBundle(model, tok, "tiny", "finetuned")
    cfg = RunConfig(sparsity=sparsity, train={"epochs": 2, "batch_size": 8, "max_length": 16, "logging_steps": 1})
    ctx = SimpleNamespace(config=cfg, progress=Progress(quiet=True), options=lambda n: {})
    return ctx, CompressJob(current=teacher, teacher=teacher, pretrained=teacher, task=task, data=data,
                            tuner=tuner, sparsity=sparsity)


@pytest.mark.parametrize("distill", [True, False])
def test_cofi_prunes_to_a_compact_model_equal_to_the_masked_one(tmp_path: Path, distill: bool) -> None:
    ctx, job = tiny_job(tmp_path, Finetune(FinetuneOptions()))
    before = {k: v.clone() for k, v in job.teacher.model.state_dict().items()}
    phase = Cofi(CofiOptions(distill=distill, mask_lr=0.5, lambda_lr=0.5)).compress(ctx, job)
    bundle, details = phase.value, phase.details
    assert bundle.model.config.model_type == "greenprune-bert"
    assert details["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    assert 0 <= details["measured_sparsity_of_input"] < 1
    trace = phase.trace
    assert trace and {"expected_sparsity", "target", "lambda_1", "lambda_2", "lagrangian", "loss"} <= set(trace[-1])
    assert ("pred" in trace[-1] and "layer" in trace[-1]) == distill
    # the teacher is untouched
    assert all(torch.equal(before[k], v) for k, v in job.teacher.model.state_dict().items())


def test_cofi_with_adapters_keeps_them_through_pruning(tmp_path: Path) -> None:
    from greenprune_builtins.adapter import AdapterOptions, AdapterTuner
    from greenprune_builtins.adapters.modules import adapter_specs

    ctx, job = tiny_job(tmp_path, AdapterTuner(AdapterOptions(bottleneck=4)), sparsity=0.6)
    phase = Cofi(CofiOptions(mask_lr=0.5, lambda_lr=0.5, mask_init={"hidden": 0.0})).compress(ctx, job)
    bundle, details = phase.value, phase.details
    assert adapter_specs(bundle.model)  # adapters survived physical pruning
    assert details["masked_vs_compact_max_abs_logit_diff"] <= 1e-4
    assert not any("adapter" in n for n, _ in job.teacher.model.named_parameters())


def test_cofi_requires_a_target(tmp_path: Path) -> None:
    from greenprune.errors import UserError

    ctx, job = tiny_job(tmp_path, Finetune(FinetuneOptions()))
    job.sparsity = None
    with pytest.raises(UserError, match="--sparsity"):
        Cofi(CofiOptions()).compress(ctx, job)
