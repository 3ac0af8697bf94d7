"""Unstructured pruning (magnitude, Wanda): exact counts, zeros kept through training, plain saved weights."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from greenprune_builtins.magnitude import projections
from greenprune_builtins.unstructured.apply import apply_masks, describe
from greenprune_builtins.unstructured.keep_zeros import kept_mask
from greenprune_builtins.unstructured.select import global_choice, n_of_m, per_matrix, per_row
from transformers import BertConfig, BertForSequenceClassification

from greenprune.config import TrainConfig
from greenprune.parametrized import fold_parametrizations
from greenprune.progress import Progress
from greenprune.training import train
from tests.integration.test_cli import run

VOCAB = 100


def prunable_linears(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {name: lin for layer in projections(model) for name, lin in layer.items()}


def tiny() -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(cfg).eval()


def features(n: int = 16, seq: int = 8) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (n, seq), generator=g)
    return [{"input_ids": row.tolist(), "attention_mask": [1] * seq, "labels": i % 2} for i, row in enumerate(ids)]


class PadTokenizer:
    """Just enough tokenizer for DataCollatorWithPadding on already-equal-length features."""

    pad_token_id = 0
    padding_side = "right"
    model_input_names = ("input_ids", "attention_mask")

    def pad(self, feats, **kw):  # type: ignore[no-untyped-def]
        return {k: torch.tensor([f[k] for f in feats]) for k in feats[0]}


def test_per_matrix_and_global_counts_are_exact_with_ties() -> None:
    scores = torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    keep = per_matrix(scores, 0.5)
    assert int((~keep).sum()) == 3 and keep[1, 2] and keep[1, 1]
    both = global_choice({"a": torch.zeros(4, 4), "b": torch.ones(4, 4)}, 0.5)
    assert not both["a"].any() and both["b"].all()  # one ranking: the small matrix loses everything


def test_per_row_and_two_of_four() -> None:
    scores = torch.arange(16.0).reshape(2, 8).flip(-1)
    keep = per_row(scores, 0.25)
    assert keep.sum(1).tolist() == [6, 6]
    keep24 = n_of_m(torch.rand(5, 16), 2, 4)
    assert (keep24.reshape(5, 4, 4).sum(-1) == 2).all()


def _masked_model(sparsity: float = 0.5) -> tuple[BertForSequenceClassification, dict[str, torch.Tensor]]:
    model = tiny()
    linears = prunable_linears(model)
    keep = {n: per_matrix(m.weight.detach().abs(), sparsity) for n, m in linears.items()}
    apply_masks(linears, keep)
    assert describe(keep)["weight_sparsity"] == pytest.approx(sparsity)
    return model, keep


def test_zeros_survive_training_deepcopy_and_fold() -> None:
    model, keep = _masked_model()
    keys = set(tiny().state_dict())
    model = copy.deepcopy(model)  # compressors and tuners clone bundles
    cfg = TrainConfig(epochs=3, batch_size=4, learning_rate=1e-2, weight_decay=0.1)
    before = {n: m.weight.detach().clone() for n, m in prunable_linears(model).items()}
    train(model, features(), PadTokenizer(), cfg, seed=0, progress=Progress(quiet=True))
    for name, lin in prunable_linears(model).items():
        assert kept_mask(lin) is not None
        w = lin.weight.detach()
        assert torch.equal(w[~keep[name]], torch.zeros_like(w[~keep[name]]))
        assert not torch.equal(w[keep[name]], before[name][keep[name]])  # the kept weights did train
    assert fold_parametrizations(model) == len(keep)
    assert set(model.state_dict()) == keys  # an ordinary checkpoint again
    for name, lin in prunable_linears(model).items():
        assert isinstance(lin.weight, torch.nn.Parameter)
        assert int((lin.weight == 0).sum()) == (~keep[name]).sum()


def test_second_pruning_only_adds_zeros() -> None:
    model, keep = _masked_model(0.25)
    linears = prunable_linears(model)
    more = {n: per_matrix(m.weight.detach().abs(), 0.5) for n, m in linears.items()}
    apply_masks(linears, more)
    for n, lin in linears.items():
        assert not (lin.weight.detach()[~keep[n]]).any()
        assert kept_mask(lin).sum() == (keep[n] & more[n]).sum()


def _load(path: Path) -> torch.nn.Module:
    from greenprune.saved import model_class

    config = json.loads((path / "config.json").read_text())
    return model_class(config.get("architectures"), config.get("model_type")).from_pretrained(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_magnitude_bench_keeps_zeros_through_tuning(scope: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "magnitude", "--sparsity", "0.5",
                        "--set", f"magnitude.scope={scope}", "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0, err
    (r,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    names = [p["name"] for p in r["phases"]]
    assert names[2:5] == ["compress:magnitude", "evaluate:compressed", "tune:finetune"]
    details = next(p for p in r["phases"] if p["name"] == "compress:magnitude")["details"]
    assert details["weight_sparsity"] == pytest.approx(0.5, abs=1e-3)
    size = r["student"]["size"]
    assert size["encoder_params"] == r["teacher"]["size"]["encoder_params"]  # nothing removed
    # the reported share counts biases too (not pruned): 0.5 x 8192 / 8416 here, 0.4987 for MiniLM
    assert size["measured_sparsity"] == 0
    assert size["unstructured_sparsity"] == pytest.approx(details["pruned_weights"] / size["encoder_params"], abs=1e-4)
    student = _load(Path(r["extra"]["student_path"]))
    weights = [m.weight for m in prunable_linears(student).values()]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.5, abs=1e-3)  # after a full tuning phase
    code, stdout, err = run(["verify", str(out)], capsys)
    assert code == 0, err
    assert "identical" in stdout



class Toy(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_wanda_keeps_the_hand_computed_set() -> None:
    from greenprune_builtins.unstructured.calibration import input_norms, wanda_scores

    w = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    # tokens: feature 3 runs large, feature 0 is small
    x = torch.tensor([[0.1, 1.0, 1.0, 10.0], [0.1, 1.0, 2.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    toy = Toy(w)
    norms = input_norms(toy, {"lin": toy.lin}, [{"x": x[:2]}, {"x": x[2:]}])
    expected_norms = torch.tensor([0.02 ** 0.5, 2 ** 0.5, 3.0, 10.0])
    assert torch.allclose(norms["lin"], expected_norms)
    keep = per_row(wanda_scores(toy.lin.weight, norms["lin"]), 0.5)
    # row 0: scores 0.57, 4.24, 6, 10 -> keep inputs 2, 3 (magnitude alone would keep 0, 1)
    # row 1: scores 0.14, 1.41, 3, 10 -> keep inputs 2, 3
    assert keep.tolist() == [[False, False, True, True], [False, False, True, True]]
    assert per_row(w.abs(), 0.5)[0].tolist() == [True, True, False, False]  # what magnitude would keep


def test_wanda_padding_tokens_do_not_count() -> None:
    from greenprune_builtins.unstructured.calibration import input_norms

    class Seq(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.lin(x)

    seq = Seq()
    x = torch.tensor([[[3.0, 0.0], [100.0, 100.0]]])  # the second token is padding
    norms = input_norms(seq, {"lin": seq.lin}, [{"x": x, "attention_mask": torch.tensor([[1, 0]])}])
    assert norms["lin"].tolist() == [3.0, 0.0]


@pytest.mark.slow
def test_wanda_two_of_four_bench_keeps_the_pattern_through_tuning(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path, fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "wanda", "--sparsity", "0.5",
                        "--set", "wanda.mode=2:4", "--set", "wanda.calibration_samples=8",
                        "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0, err
    (r,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    details = next(p for p in r["phases"] if p["name"] == "compress:wanda")["details"]
    assert details["weight_sparsity"] == 0.5 and details["calibration_examples"] == 8
    student = _load(Path(r["extra"]["student_path"]))
    for lin in prunable_linears(student).values():
        w = lin.weight.detach()
        nonzero = (w != 0).reshape(w.shape[0], -1, 4).sum(-1)
        assert (nonzero <= 2).all() and (nonzero == 2).float().mean() > 0.99  # 2 of every 4, after tuning
