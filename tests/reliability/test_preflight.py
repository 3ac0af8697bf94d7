"""Bad input found before the work: every one of these used to pass the idle baseline, or the
teacher fine-tune, before failing (or to fail as a traceback). Here the work itself is a trap:
measuring the idle baseline (the first thing a run does) fails the test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_cli import one_line_error, run


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    import greenprune.metering

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started (idle baseline) before the bad input was found")

    monkeypatch.setattr(greenprune.metering, "measure_baseline", trap)


def bench(capsys: pytest.CaptureFixture[str], out: Path, teacher: Path, *args: str) -> str:
    code, _, err = run(["-q", "bench", "--out", str(out), "--teacher", str(teacher), *args], capsys)
    assert code == 2, err
    return one_line_error(err)


@pytest.fixture(scope="module")
def gpt2_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100, n_positions=64)).save_pretrained(path)
    return path


def test_out_that_is_a_regular_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                                    no_work: None) -> None:
    (tmp_path / "taken").write_text("x")
    line = bench(capsys, tmp_path / "taken", tiny_teacher)
    assert "--out" in line and "taken" in line and "file" in line


def test_out_under_a_regular_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                                  no_work: None) -> None:
    (tmp_path / "taken").write_text("x")
    line = bench(capsys, tmp_path / "taken" / "sub", tiny_teacher)
    assert "--out" in line and "taken" in line


def test_out_read_only(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                       monkeypatch: pytest.MonkeyPatch, no_work: None) -> None:
    # Tests run as root, whom chmod does not stop: the read-only folder is os.access saying no.
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == ro and mode & os.W_OK
                        else real(p, mode, *a, **k))
    line = bench(capsys, ro, tiny_teacher)
    assert "--out" in line and "writ" in line and str(ro) in line


@pytest.mark.parametrize("seed", ["-3", "4294967296"])
def test_seed_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path, seed: str,
                           no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--seed", seed)
    assert "seed" in line and seed in line


def test_epochs_inf(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path, no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--epochs", "inf")
    assert "epochs" in line and "finite" in line


def test_max_length_beyond_the_teachers_positions(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  tiny_teacher: Path, no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--set", "train.max_length=4096")
    assert "train.max_length" in line and "4096" in line and "160" in line  # the tiny BERT has 160 positions


def test_a_gpt2_teacher_is_refused_naming_the_supported_families(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path, gpt2_teacher: Path,
                                                                  no_work: None) -> None:
    line = bench(capsys, tmp_path, gpt2_teacher)
    assert "gpt2" in line and "bert" in line


def test_cofi_twice_in_a_chain(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                               no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--compressor", "cofi", "--compressor", "cofi", "--sparsity", "0.5")
    assert "cofi" in line and "twice" in line


def test_distill_keep_out_of_the_teachers_range(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                tiny_teacher: Path, no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--compressor", "distill", "--set", "distill.keep=[0,5]")
    assert "keep" in line and "5" in line and "2 layers" in line


def test_dev_tsv_that_is_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                                  no_work: None) -> None:
    rte = tmp_path / "glue" / "RTE"
    (rte / "dev.tsv").mkdir(parents=True)
    (rte / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    line = bench(capsys, tmp_path / "o", tiny_teacher, "--task", "rte", "--data-dir", str(tmp_path / "glue"))
    assert "dev.tsv" in line and "folder" in line and "missing" not in line


def test_a_teacher_folder_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              no_work: None) -> None:
    line = bench(capsys, tmp_path, Path("/nonexistent/model"))
    assert "/nonexistent/model" in line


def test_a_data_dir_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_teacher: Path,
                                        no_work: None) -> None:
    line = bench(capsys, tmp_path, tiny_teacher, "--task", "mrpc", "--data-dir", "/nonexistent")
    assert "/nonexistent" in line


@pytest.fixture(scope="module")
def roberta_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.integration.test_compression_cli import make_tiny_roberta

    return make_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


def test_roberta_positions_start_after_the_padding_id(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      roberta_teacher: Path, no_work: None) -> None:
    """RoBERTa numbers positions from padding id + 1, so it reads max_position_embeddings - pad - 1
    tokens (514 rows, padding id 1: 512). One token more crashes in the embedding lookup, so the
    pre-flight refuses it; the usable length itself runs."""
    import torch
    from transformers import AutoConfig, AutoModel, RobertaConfig

    from greenprune.structure.families import usable_positions

    assert usable_positions(RobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512
    config = AutoConfig.from_pretrained(roberta_teacher)
    usable = usable_positions(config)
    assert usable == config.max_position_embeddings - config.pad_token_id - 1 == 160
    model = AutoModel.from_pretrained(roberta_teacher).eval()
    with torch.no_grad():
        model(input_ids=torch.full((1, usable), 5))  # fits
        with pytest.raises((IndexError, RuntimeError)):  # out of bounds, wherever it is indexed first
            model(input_ids=torch.full((1, usable + 1), 5))  # what the pre-flight spares the user
    capsys.readouterr()  # the model's loading messages
    line = bench(capsys, tmp_path, roberta_teacher, "--set", f"inference.seq_length={usable + 1}")
    assert f"inference.seq_length={usable + 1}" in line and f"<={usable}" in line and "padding id" in line


def test_roberta_usable_length_passes_the_preflight(roberta_teacher: Path) -> None:
    from transformers import AutoConfig

    from greenprune.config import BenchConfig
    from greenprune.preflight import check_lengths

    task = type("Task", (), {"name": "demo"})()
    config = AutoConfig.from_pretrained(roberta_teacher)
    check_lengths(BenchConfig(train={"max_length": 160}, inference={"seq_length": 160}), task, config)
