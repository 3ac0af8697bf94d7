from __future__ import annotations

from pathlib import Path

import pytest

from greenprune.config import BenchConfig, build_config, parse_set
from greenprune.errors import UserError


def test_defaults_are_the_embedded_offline_run() -> None:
    cfg = build_config()
    # The default bench compresses; its sparsities come from the compressor (tests/unit/test_defaults.py).
    assert (cfg.task, cfg.teacher, cfg.compressors, cfg.tuner, cfg.meters) == (
        "demo", "minilm", ["cofi"], "finetune", ["auto"])
    assert cfg.sparsity == []


def test_flags_toml_and_set_merge_in_order(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('task = "stsb"\nsparsity = [0.6]\n[train]\nepochs = 2\n[options.finetune]\nlearning_rate = 1e-5\n')
    cfg = build_config(toml, {"epochs": 1.0, "compressors": ("none",)}, ["train.batch_size=8", "finetune.epochs=4"])
    assert cfg.task == "stsb" and cfg.train.epochs == 1.0 and cfg.train.batch_size == 8
    assert cfg.options["finetune"] == {"learning_rate": 1e-5, "epochs": 4}
    assert [r.sparsity for r in cfg.runs()] == [0.6]


def test_one_run_per_sparsity_with_distinct_keys() -> None:
    runs = BenchConfig(compressors=["x"], sparsity=[0.6, 0.9]).runs()
    assert [r.sparsity for r in runs] == [0.6, 0.9]
    assert runs[0].run_key() != runs[1].run_key()
    assert runs[0].run_key() == BenchConfig(compressors=["x"], sparsity=[0.6]).runs()[0].run_key()


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5, -0.2])
def test_sparsity_outside_open_interval_is_rejected(value: float) -> None:
    with pytest.raises(UserError, match=r"sparsity.*outside \(0, 1\)"):
        build_config(flags={"sparsity": [value]})


def test_unknown_key_names_it() -> None:
    with pytest.raises(UserError, match="unknown config key 'epoch'"):
        build_config(flags={"epoch": 3})
    with pytest.raises(UserError, match=r"'train\.lr'"):
        build_config(sets=["train.lr=1"])


def test_bad_set_syntax() -> None:
    with pytest.raises(UserError, match="expected section.key=value"):
        parse_set("novalue")
    assert parse_set("train.epochs=2") == (["train", "epochs"], 2)
    assert parse_set("x.path=/tmp/a b") == (["x", "path"], "/tmp/a b")


def test_missing_or_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        build_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("task = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        build_config(bad)
