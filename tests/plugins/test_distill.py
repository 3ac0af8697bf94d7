"""The ``distill`` compressor: the layer-dropped student, the losses, and short
end-to-end runs on a tiny random 4-layer BERT (classification and regression). Layer selection and
options: test_distill_selection.py."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
from greenprune_builtins.distill import Distill, DistillOptions
from greenprune_builtins.distill_student import (
    encoder_layers,
    hidden_loss,
    layer_map,
    make_loss_fn,
    make_student,
    prediction_loss,
)
from greenprune_builtins.finetune import Finetune, FinetuneOptions
from greenprune_builtins.tasks.demo import generate

from greenprune.compression import CompressJob
from greenprune.config import RunConfig, TrainConfig
from greenprune.errors import UserError
from greenprune.modeling import ModelBundle
from greenprune.progress import Progress
from greenprune.protocols import Tuner
from greenprune.tasks import Task, TaskData
from tests.conftest import make_tiny_bert

TEACHER_LAYERS = 4

# ---------------------------------------------------------------------------------------------
# The student
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-4"), layers=TEACHER_LAYERS)


def _load(path: Path, num_labels: int = 2) -> Any:
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"num_labels": num_labels}
    if num_labels == 1:
        kwargs["problem_type"] = "regression"
    return AutoModelForSequenceClassification.from_pretrained(path, **kwargs).eval()


def _batch(tokenizer: Any, n: int = 6) -> dict[str, Any]:
    texts = [r["text_a"] for r in generate(n, seed=1, negation_rate=0.3)]
    texts[0] += " and much more text so this row is longer than the others"
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


def _state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_make_student_keeps_exactly_those_layers(bert_dir: Path) -> None:
    import torch

    teacher = _load(bert_dir)
    before = _state(teacher)
    student = make_student(teacher, [1, 3])
    assert len(student.bert.encoder.layer) == 2 and student.config.num_hidden_layers == 2
    assert len(teacher.bert.encoder.layer) == TEACHER_LAYERS and teacher.config.num_hidden_layers == TEACHER_LAYERS
    s_state = student.state_dict()
    for key, value in s_state.items():
        if key.startswith("bert.encoder.layer."):
            i, rest = key.removeprefix("bert.encoder.layer.").split(".", 1)
            source = f"bert.encoder.layer.{[1, 3][int(i)]}.{rest}"
        else:
            source = key
        assert torch.equal(value, before[source]), key
    assert len(s_state) == len(before) - 2 * len([k for k in before if k.startswith("bert.encoder.layer.0.")])
    # copies, not shared tensors: training the student must not touch the teacher
    assert student.bert.encoder.layer[0].attention.self.query.weight.data_ptr() != \
        teacher.bert.encoder.layer[1].attention.self.query.weight.data_ptr()
    assert [m.layer_idx for m in student.modules() if isinstance(getattr(m, "layer_idx", None), int)] == [0, 1]
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())


def test_student_round_trips_through_save_and_from_pretrained(bert_dir: Path, tmp_path: Path) -> None:
    import torch

    student = make_student(_load(bert_dir), [0, 2]).eval()
    student.save_pretrained(tmp_path)
    loaded = _load(tmp_path)
    assert type(loaded).__name__ == "BertForSequenceClassification"
    assert loaded.config.num_hidden_layers == 2 and len(loaded.bert.encoder.layer) == 2
    from transformers import AutoTokenizer

    batch = _batch(AutoTokenizer.from_pretrained(bert_dir))
    with torch.no_grad():
        assert torch.equal(student(**batch).logits, loaded(**batch).logits)


def test_models_without_bert_layers_are_rejected() -> None:
    import torch

    with pytest.raises(UserError, match="Linear"):
        encoder_layers(torch.nn.Linear(2, 2))
    with pytest.raises(UserError, match="Linear"):
        make_student(torch.nn.Linear(2, 2), [0])


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def test_loss_is_zero_for_an_identical_student_and_positive_otherwise(bert_dir: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    teacher = _load(bert_dir)
    batch = {**_batch(AutoTokenizer.from_pretrained(bert_dir)), "labels": torch.tensor([0, 1] * 3)}
    same = make_student(teacher, list(range(TEACHER_LAYERS))).eval()
    loss, parts = make_loss_fn(teacher, layer_map(range(TEACHER_LAYERS)))(same, batch)
    assert float(loss.detach()) < 1e-6 and parts["kd"] < 1e-6 and parts["hidden"] < 1e-6 and parts["hard"] > 0
    keep = [1, 3]
    fewer = make_student(teacher, keep).eval()
    loss, parts = make_loss_fn(teacher, layer_map(keep), alpha_hard=1.0)(fewer, batch)
    assert parts["kd"] > 0 and parts["hidden"] > 0
    assert parts["loss"] == pytest.approx(parts["kd"] + parts["hidden"] + parts["hard"], rel=1e-5)
    loss.backward()  # the loss reaches the student's weights
    assert fewer.bert.encoder.layer[0].output.dense.weight.grad is not None


def test_prediction_loss_kl_and_regression_mse() -> None:
    import torch

    s, t = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    p_t, log_p_s = torch.softmax(t / 2, -1), torch.log_softmax(s / 2, -1)
    expected = (p_t * (p_t.log() - log_p_s)).sum(-1).mean() * 4
    assert float(prediction_loss(s, t, 2.0)) == pytest.approx(float(expected), rel=1e-5)
    assert float(prediction_loss(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(prediction_loss(torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [2.0]]), 2.0)) == 0.5


def test_hidden_loss_ignores_padding_positions() -> None:
    import torch

    a = torch.zeros(1, 3, 4)
    b = a.clone()
    b[0, 2] = 5.0  # differs only at a padding position
    mask = torch.tensor([[1, 1, 0]])
    assert float(hidden_loss([a, a], [b, b], [(0, 0), (1, 1)], mask)) == 0.0
    assert float(hidden_loss([a, a], [b, b], [(0, 0), (1, 1)], None)) > 0
    with pytest.raises(UserError, match="alpha_hidden=0"):
        hidden_loss([torch.zeros(1, 3, 4)], [torch.zeros(1, 3, 8)], [(0, 0)], mask)


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------


def _ctx(steps: int | None = 3) -> Any:
    train = TrainConfig(batch_size=8, max_steps=steps, logging_steps=1, max_length=32, learning_rate=1e-3)
    return types.SimpleNamespace(config=RunConfig(train=train, seed=0), progress=Progress(quiet=True),
                                 options=lambda name: {})


def _job(bert_dir: Path, regression: bool, tuner: Any) -> CompressJob:
    from transformers import AutoTokenizer

    rows = generate(32, seed=3, negation_rate=0.3)
    if regression:
        rows = [{**r, "label": 2.5 + r["label"] * 2.0} for r in rows]
    task = Task(name="t", title="t", kind="regression" if regression else "classification",
                num_labels=1 if regression else 2, metrics=("m",), primary_metric="m")
    bundle = ModelBundle(_load(bert_dir, task.num_labels), AutoTokenizer.from_pretrained(bert_dir), "tiny", "teacher")
    return CompressJob(current=bundle, teacher=bundle, pretrained=bundle, task=task,
                       data=TaskData(train=rows, dev={"dev": rows[:8]}, source="synthetic"), tuner=tuner,
                       sparsity=None)


def test_compress_trains_a_shallower_student_and_leaves_the_teacher_alone(bert_dir: Path) -> None:
    import torch

    job = _job(bert_dir, regression=False, tuner=Finetune(FinetuneOptions()))
    teacher_before = _state(job.teacher.model)
    phase = Distill(DistillOptions(layers=2)).compress(_ctx(), job)
    student, details = phase.value, phase.details

    assert student.model.config.num_hidden_layers == 2 and len(student.model.bert.encoder.layer) == 2
    assert student.origin == "compressed:distill" and student.info["teacher_layer_ids"] == [1, 3]
    assert details["kept_layers"] == [1, 3] and details["layer_map"] == {"0": 1, "1": 3}
    assert details["teacher_layers"] == TEACHER_LAYERS and details["train"]["steps"] == 3
    assert len(phase.trace) == 3
    assert all({"kd", "hidden", "hard", "loss"} <= set(row) for row in phase.trace)
    # the teacher: same weights, same depth, same (eval) mode
    assert all(torch.equal(v, teacher_before[k]) for k, v in job.teacher.model.state_dict().items())
    assert job.teacher.model.config.num_hidden_layers == TEACHER_LAYERS and not job.teacher.model.training
    # the student did train
    kept = job.teacher.model.bert.encoder.layer[3].output.dense.weight
    assert not torch.equal(student.model.bert.encoder.layer[1].output.dense.weight, kept)


class _FrozenEmbeddingsTuner(Tuner):
    """Records ``prepare`` and freezes the embeddings, as an adapter tuner would freeze more."""

    def __init__(self) -> None:
        self.prepared: list[Any] = []

    def prepare(self, bundle: Any) -> None:
        self.prepared.append(bundle)
        for name, p in bundle.model.named_parameters():
            p.requires_grad_(not name.startswith("bert.embeddings."))


def test_regression_with_explicit_layers_and_a_tuner_that_freezes(bert_dir: Path) -> None:
    import torch

    tuner = _FrozenEmbeddingsTuner()
    job = _job(bert_dir, regression=True, tuner=tuner)
    opts = DistillOptions(keep=[0, 3], alpha_hard=0.5, alpha_hidden=0.0, epochs=1.0)
    phase = Distill(opts).compress(_ctx(steps=2), job)
    student, details = phase.value, phase.details
    assert tuner.prepared == [student]
    assert details["kept_layers"] == [0, 3] and student.model.config.num_labels == 1
    assert all("kd" in row and "hard" in row and "hidden" not in row for row in phase.trace)
    emb = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(student.model.state_dict()[emb], job.teacher.model.state_dict()[emb])


def test_chained_distillation_maps_onto_the_teachers_layers() -> None:
    current = types.SimpleNamespace(info={"teacher_layer_ids": [1, 3]})
    assert Distill._teacher_layers_of(current, 2, 4) == [1, 3]
    assert Distill._teacher_layers_of(types.SimpleNamespace(info={}), 4, 4) == [0, 1, 2, 3]
    assert Distill._teacher_layers_of(types.SimpleNamespace(info={}), 2, 6) == [2, 5]
    with pytest.raises(UserError, match="more than the teacher"):
        Distill._teacher_layers_of(types.SimpleNamespace(info={}), 6, 4)


# ---------------------------------------------------------------------------------------------
# Augmentation (teacher-scored perturbed copies)
# ---------------------------------------------------------------------------------------------


def test_augmented_copies_mask_and_drop_ordinary_tokens_only(bert_dir: Path) -> None:
    from greenprune_builtins.distill_augment import augmented_copies
    from transformers import AutoTokenizer

    from greenprune.data import encode

    tok = AutoTokenizer.from_pretrained(bert_dir)
    rows = generate(40, seed=5, negation_rate=0.3)
    pairs = [{**r, "text_b": r["text_a"][::-1]} for r in rows]  # sentence pairs: token_type_ids 0 and 1
    task = Task(name="t", title="t", kind="classification", num_labels=2, metrics=("m",), primary_metric="m")
    feats = encode(pairs, tok, task, 64)
    copies = augmented_copies(feats, tok, copies=3, mask_p=0.2, drop_p=0.2, seed=7)
    assert len(copies) == 3 * len(feats)
    assert copies == augmented_copies(feats, tok, copies=3, mask_p=0.2, drop_p=0.2, seed=7)  # seeded
    special = set(tok.all_special_ids) - {tok.mask_token_id}
    masked = dropped = 0
    for i, c in enumerate(copies):
        orig = feats[i % len(feats)]
        assert c["labels"] == orig["labels"]
        assert len(c["input_ids"]) == len(c["attention_mask"]) == len(c["token_type_ids"])
        # special tokens all survive, in order, with their segment ids
        assert [t for t in c["input_ids"] if t in special] == [t for t in orig["input_ids"] if t in special]
        assert sorted(set(c["token_type_ids"])) == sorted(set(orig["token_type_ids"]))
        masked += c["input_ids"].count(tok.mask_token_id)
        dropped += len(orig["input_ids"]) - len(c["input_ids"])
    ordinary = 3 * sum(len([t for t in f["input_ids"] if t not in special]) for f in feats)
    assert 0.15 < masked / ordinary < 0.25 and 0.15 < dropped / ordinary < 0.25


def test_distill_with_augmentation_trains_on_the_copies(bert_dir: Path) -> None:
    job = _job(bert_dir, regression=True, tuner=Finetune(FinetuneOptions()))
    phase = Distill(DistillOptions(layers=2, augment=2, epochs=1.0)).compress(_ctx(steps=None), job)
    _, details = phase.value, phase.details
    assert details["augment"]["original_examples"] == 32 and details["augment"]["train_examples"] == 96
    assert details["train"]["steps"] == 12  # 96 examples / batch 8, one epoch


def test_augmentation_is_refused_for_question_answering(bert_dir: Path) -> None:
    job = _job(bert_dir, regression=False, tuner=Finetune(FinetuneOptions()))
    job = CompressJob(**{**vars(job), "task": Task(name="q", title="q", kind="qa", num_labels=2, metrics=("m",),
                                                     primary_metric="m")})
    with pytest.raises(UserError, match="augment=0"):
        Distill(DistillOptions(layers=2, augment=1)).compress(_ctx(), job)
