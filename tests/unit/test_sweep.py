"""Sweeps without models: matrix expansion, shards, config files, resume, and failing cells."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from greenprune.components import Catalogue, collect
from greenprune.config import BenchConfig, build_config
from greenprune.defaults import resolve
from greenprune.errors import UserError
from greenprune.plugins import make_plugin_manager
from greenprune.progress import Progress
from greenprune.results import ResultStore, RunResult
from greenprune.sweep import (
    Cell,
    SweepAxes,
    expand,
    latest_per_key,
    load_plan,
    parse_shard,
    parse_vary,
    select_shard,
    validate_cells,
)
from greenprune.sweep_cells import CellOutcome, cell_config_json, run_cell, run_cells

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "benchmarks" / "configs").glob("*.toml"))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return collect(make_plugin_manager())


def cells_for(catalogue: Catalogue, **axes: list) -> list[Cell]:
    return expand(build_config(), SweepAxes(**axes), catalogue)


def shape(cells: list[Cell]) -> list[tuple[str, float | None]]:
    return [("+".join(c.config.compressors), c.config.sparsity) for c in cells]


def test_chains_prune_at_each_sparsity_others_once(catalogue: Catalogue) -> None:
    cells = cells_for(catalogue, chains=["none", "distill", "cofi", "distill+cofi"], sparsities=[0.6, 0.9])
    assert shape(cells) == [("none", None), ("distill", None), ("cofi", 0.6), ("cofi", 0.9),
                            ("distill+cofi", 0.6), ("distill+cofi", 0.9)]
    assert [c.index for c in cells] == list(range(6))


def test_full_matrix_order_is_stable(catalogue: Catalogue) -> None:
    axes = {"tasks": ["rte", "mrpc"], "chains": ["cofi"], "tuners": ["finetune", "adapter"],
            "sparsities": [0.5, 0.7], "seeds": [1, 2]}
    cells = cells_for(catalogue, **axes)
    assert len(cells) == 2 * 2 * 2 * 2
    first = cells[0].config
    assert (first.task, first.tuner, first.sparsity, first.seed) == ("rte", "finetune", 0.5, 1)
    assert (cells[1].config.seed, cells[2].config.sparsity, cells[4].config.tuner) == (2, 0.7, "adapter")
    assert [c.key for c in cells] == [c.key for c in cells_for(catalogue, **axes)]


def test_sparsity_zero_is_the_dense_point_without_duplicates(catalogue: Catalogue) -> None:
    cells = cells_for(catalogue, chains=["none", "cofi", "distill+cofi"], sparsities=[0, 0.5])
    # cofi at 0 is "none", already in the matrix; distill+cofi at 0 is distill alone
    assert shape(cells) == [("none", None), ("cofi", 0.5), ("distill", None), ("distill+cofi", 0.5)]
    assert "dense point of distill+cofi" in cells[2].label()


def test_a_chain_can_pin_its_tuner(catalogue: Catalogue) -> None:
    # the study's three pipelines, not the 2 x 2 product (no distill+cofi/adapter)
    cells = cells_for(catalogue, chains=["cofi/finetune", "cofi/adapter", "distill+cofi/finetune"],
                      tuners=["finetune", "adapter"], sparsities=[0.6])
    assert [("+".join(c.config.compressors), c.config.tuner) for c in cells] == [
        ("cofi", "finetune"), ("cofi", "adapter"), ("distill+cofi", "finetune")]
    crossed = cells_for(catalogue, chains=["cofi", "none/adapter"], tuners=["finetune", "adapter"], sparsities=[0.6])
    assert [("+".join(c.config.compressors), c.config.tuner) for c in crossed] == [
        ("cofi", "finetune"), ("cofi", "adapter"), ("none", "adapter")]
    for bad in ("cofi/", "cofi/adapter/x"):
        with pytest.raises(UserError, match="CHAIN/TUNER"):
            cells_for(catalogue, chains=[bad], sparsities=[0.6])
    with pytest.raises(UserError, match="adaptr"):
        validate_cells(cells_for(catalogue, chains=["cofi/adaptr"], sparsities=[0.6]), catalogue)


def test_pruning_chain_without_sparsities_takes_the_pruners_defaults(catalogue: Catalogue) -> None:
    # cofi declares its default targets (Component.default_sparsities); a pruner without them is
    # refused (tests/unit/test_defaults.py)
    defaults = catalogue.get("compressor", "cofi").default_sparsities
    assert shape(cells_for(catalogue, chains=["none", "distill+cofi"])) == [
        ("none", None), *(("distill+cofi", s) for s in defaults)]
    with pytest.raises(UserError, match="unknown compressor 'cofy'"):
        cells_for(catalogue, chains=["cofy"], sparsities=[0.5])


def test_a_sweep_cell_is_the_same_run_as_bench(catalogue: Catalogue) -> None:
    """Axes left out fall back to the run config, and the run key matches bench's for the same
    settings: results of either command count as finished for the other."""
    base = build_config(None, {"task": "rte", "compressors": ("cofi",), "sparsity": [0.3], "seed": 7},
                        ["train.epochs=1"])
    (cell,) = expand(base, SweepAxes(), catalogue)
    assert cell.key == base.runs()[0].run_key()


def test_validation_names_the_cell(catalogue: Catalogue) -> None:
    cells = cells_for(catalogue, chains=["none", "distill+none"])
    with pytest.raises(UserError, match=r"sweep cell 1 \(demo distill\+none .*cannot be chained"):
        validate_cells(cells, catalogue)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shards_partition_the_matrix(catalogue: Catalogue, n: int) -> None:
    cells = cells_for(catalogue, tasks=["rte", "mrpc", "stsb"], chains=["none", "cofi"], sparsities=[0.5, 0.9],
                      seeds=[1, 2])
    shards = [select_shard(cells, parse_shard(f"{i}/{n}")) for i in range(n)]
    keys = [c.key for shard in shards for c in shard]
    assert sorted(keys) == sorted(c.key for c in cells) and len(set(keys)) == len(cells)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("spec", ["2/2", "-1/3", "a/b", "1", "0/0"])
def test_bad_shard(spec: str) -> None:
    with pytest.raises(UserError, match="bad --shard"):
        parse_shard(spec)


def test_plan_from_toml_with_cli_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "sweep.toml"
    cfg.write_text('teacher = "minilm"\nmax_train_samples = 10\n[sweep]\ntasks = ["rte", "mrpc"]\n'
                   'chains = ["distill+cofi", ["cofi"]]\nsparsities = [0.6]\n[train]\nepochs = 5\n'
                   '[options.cofi]\nlambda_lr = 0.2\n')
    base, axes = load_plan(cfg, {"epochs": 2.0}, ["cofi.mask_lr=0.3"], {"tasks": ("stsb",), "seeds": ()})
    assert axes.tasks == ["stsb"] and axes.chains == ["distill+cofi", ["cofi"]] and axes.seeds is None
    assert base.train.epochs == 2.0 and base.max_train_samples == 10
    assert base.options["cofi"] == {"lambda_lr": 0.2, "mask_lr": 0.3}
    cfg.write_text("[sweep]\ntask = [\"rte\"]\n")
    with pytest.raises(UserError, match="unknown \\[sweep\\] key 'task'; valid: tasks"):
        load_plan(cfg, {}, [], {})
    cfg.write_text("[sweep]\nsparsities = [1.5]\n")
    with pytest.raises(UserError, match="bad sweep value for 'sparsities'"):
        load_plan(cfg, {}, [], {})
    cfg.write_text("[sweep]\ntasks = [\"rte\"]\n[train]\nepochz = 1\n")
    with pytest.raises(UserError, match="unknown config key 'train.epochz'"):
        load_plan(cfg, {}, [], {})


def test_cell_config_reads_back_as_the_same_run(tmp_path: Path, catalogue: Catalogue) -> None:
    base = build_config(None, {"data_dir": Path("../shared/data/glue"), "meters": ("cpu-estimate",)},
                        ["train.learning_rate=3e-5", "cofi.mask_init={head = 2.5}", "cofi.prune=[\"head\", \"ffn\"]",
                         "inference.enabled=false"])
    (cell,) = expand(base, SweepAxes(tasks=["rte"], chains=["cofi"], sparsities=[0.75]), catalogue)
    path, text = cell_config_json(cell, tmp_path)
    assert path == tmp_path / "cells" / f"{cell.key}.json"
    assert build_config(json.loads(text)).runs()[0].run_key() == cell.key
    assert build_config(path).runs()[0].run_key() == cell.key  # the record reruns the cell by hand


def test_a_sweep_builds_its_configs_without_writing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "sweep.toml"
    cfg.write_text("seed = 3\n[sweep]\ntasks = [\"rte\"]\n[train]\nepochs = 1\n")
    written: list[str] = []
    real_open = open

    def watching_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(m in mode for m in "wax"):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watching_open)
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: written.append(str(self)))
    monkeypatch.setattr("tempfile.TemporaryDirectory", None)  # no temporary folder either
    base, axes = load_plan(cfg, {}, [], {})
    assert written == [] and base.seed == 3 and base.train.epochs == 1 and axes.tasks == ["rte"]


def test_build_config_from_data_leaves_the_data_alone() -> None:
    data = {"task": "rte", "train": {"epochs": 2}}
    cfg = build_config(data, {"epochs": 1.0}, ["train.batch_size=8"])
    assert (cfg.task, cfg.train.epochs, cfg.train.batch_size) == ("rte", 1.0, 8)
    assert data == {"task": "rte", "train": {"epochs": 2}}


def test_committed_results_keep_their_run_keys() -> None:
    # Old results folders must keep resuming: a recorded config rebuilds to its recorded key.
    lines = [line for folder in ("retention-cpu", "distill-stsb-cpu") for line in
             (REPO / "reports" / folder / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any('"sparsity":null' in line for line in lines) and any('"sparsity":0.6' in line for line in lines)
    for line in lines:
        record = json.loads(line)
        (run,) = build_config(record["config"]).runs()
        assert run.run_key() == record["run_key"]


def result(key: str, status: str = "ok") -> RunResult:
    return RunResult(run_key=key, status=status, started_at="2025-01-01T00:00:00", config={})


def test_finished_cells_are_skipped_and_a_failure_does_not_stop_the_sweep(tmp_path: Path,
                                                                          catalogue: Catalogue) -> None:
    cells = cells_for(catalogue, chains=["cofi"], sparsities=[0.2, 0.4, 0.6, 0.8])
    store = ResultStore(tmp_path)
    store.append(result(cells[0].key))
    store.append(result(cells[1].key, "failed"))  # failed before: runs again
    ran = []

    def runner(cell: Cell, out: Path) -> CellOutcome:
        ran.append(cell.index)
        return CellOutcome("failed", "boom") if cell.index == 2 else CellOutcome("ok")

    summary = run_cells(cells, tmp_path, Progress(quiet=True), runner=runner)
    assert ran == [1, 2, 3]
    assert ([c.index for c in summary.skipped], [c.index for c in summary.ok], [c.index for c in summary.failed]) \
        == ([0], [1, 3], [2])


def one_cell(tmp_path: Path, catalogue: Catalogue) -> Cell:
    return cells_for(catalogue, chains=["cofi"], sparsities=[0.5])[0]


def test_a_crashed_cell_is_recorded_as_failed(tmp_path: Path, catalogue: Catalogue) -> None:
    cell = one_cell(tmp_path, catalogue)
    crash = [sys.executable, "-c", "import sys; print('allocating 80 GB'); sys.exit(137)"]
    outcome = run_cell(cell, tmp_path, command=crash)
    (recorded,) = ResultStore(tmp_path).load()
    assert outcome.status == recorded.status == "failed" and recorded.run_key == cell.key
    assert "exited with code 137" in recorded.error and "allocating 80 GB" in recorded.error
    assert recorded.extra["sweep"]["exit_code"] == 137 and recorded.config["sparsity"] == 0.5
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    run_cell(cell, tmp_path, command=killed)
    assert "killed by SIGKILL (often the out-of-memory killer)" in ResultStore(tmp_path).load()[-1].error


def test_an_interrupted_sweep_stops_its_running_cell(tmp_path: Path, catalogue: Catalogue) -> None:
    # SIGINT/SIGTERM sent to the sweep alone (not a terminal's process group) must not leave the
    # cell's process running: the sweep passes the interrupt on.
    import signal
    import threading
    import time

    cell = one_cell(tmp_path, catalogue)
    pid_file = tmp_path / "child.pid"
    sleeper = [sys.executable, "-c",
               f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]

    def interrupt_when_child_runs() -> None:
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.05)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt_when_child_runs, daemon=True).start()
    started = time.monotonic()
    # Python's own SIGINT handler, whatever an earlier test or library installed: this test is about
    # what run_cell does with the KeyboardInterrupt, not about who handles the signal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_cell(cell, tmp_path, command=sleeper)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 30
    child = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # gone (terminated and reaped)
    assert not ResultStore(tmp_path).load()  # an interrupted cell is not recorded as failed


def test_a_cell_that_records_its_own_failure_is_not_recorded_twice(tmp_path: Path, catalogue: Catalogue) -> None:
    cell = one_cell(tmp_path, catalogue)
    child = ("import sys, json; from pathlib import Path; a = sys.argv; out = Path(a[a.index('--out') + 1]); "
             "from greenprune.config import build_config; "
             "key = build_config(json.loads(a[a.index('--config-json') + 1])).runs()[0].run_key(); "
             "open(out / 'results.jsonl', 'a').write(json.dumps({'run_key': key, 'status': 'failed', "
             "'error': 'RuntimeError: CUDA error', 'started_at': 'x', 'config': {}}) + '\\n'); sys.exit(1)")
    outcome = run_cell(cell, tmp_path, command=[sys.executable, "-c", child])
    assert outcome == CellOutcome("failed", "RuntimeError: CUDA error")
    assert len(ResultStore(tmp_path).load()) == 1


def test_latest_per_key_keeps_the_last_ok() -> None:
    a1, a2, b = result("a", "failed"), result("a"), result("b", "failed")
    a3 = result("a", "failed")
    assert latest_per_key([a1, a2, b, a3]) == [a2, b]
    assert latest_per_key([b, result("b", "failed")])[0].status == "failed"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_expand_and_validate(path: Path, catalogue: Catalogue) -> None:
    base, axes = load_plan(path, {}, [], {})
    cells = expand(base, axes, catalogue)
    validate_cells(cells, catalogue)
    study = path.name.startswith("study-")  # the study's three tasks; other configs pick their own
    assert cells and (not study or {c.config.task for c in cells} == {"rte", "mrpc", "stsb"})
    assert str(base.data_dir).startswith("../shared/data/")
    assert isinstance(base, BenchConfig)


def test_both_study_scales_are_shipped() -> None:
    assert {p.name for p in CONFIGS} >= {"study-cpu.toml", "study-gpu.toml"}


def test_vary_crosses_settings_with_the_other_axes(catalogue: Catalogue) -> None:
    vary = parse_vary(["distill.keep=[1,5]", "distill.keep=[2,5]", "train.learning_rate=1e-4"])
    assert vary == {"distill.keep": [[1, 5], [2, 5]], "train.learning_rate": [1e-4]}
    cells = cells_for(catalogue, chains=["distill"], seeds=[1, 2], vary=vary)
    assert [(c.config.options["distill"]["keep"], c.config.seed) for c in cells] == [
        ([1, 5], 1), ([1, 5], 2), ([2, 5], 1), ([2, 5], 2)]
    assert all(c.config.train.learning_rate == 1e-4 for c in cells)
    assert len({c.key for c in cells}) == 4  # the setting is part of what a run is
    assert cells[2].label() == "demo distill / finetune [distill.keep=[2, 5], train.learning_rate=0.0001] seed 1"
    validate_cells(cells, catalogue)  # distill accepts both lists
    # the same cell as bench with --set gives (so either command resumes the other's results);
    # both fill in the demo task's own config defaults the same way
    base = build_config(None, {"compressors": ("distill",), "seed": 1},
                        ["distill.keep=[1,5]", "train.learning_rate=1e-4"])
    assert cells[0].key == resolve(base, catalogue)[0].runs()[0].run_key()


def test_vary_errors_name_the_setting(catalogue: Catalogue) -> None:
    with pytest.raises(UserError, match=r"--vary train.learning_rate=-1.*learning_rate"):
        cells_for(catalogue, vary={"train.learning_rate": [-1]})
    with pytest.raises(UserError, match=r"sweep cell 0 \(demo distill / finetune \[distill.keep=\[1, 1\]\].*repeats"):
        validate_cells(cells_for(catalogue, chains=["distill"], vary={"distill.keep": [[1, 1]]}), catalogue)
    with pytest.raises(UserError, match="bad --vary 'distill'"):
        parse_vary(["distill"])
    for bad, hint in (({"seed": [1, 2]}, "--seed"), ({"distill.keep": []}, "non-empty"), ({"epochz": [1]}, "section")):
        with pytest.raises(ValueError, match=hint):
            SweepAxes(vary=bad)


def test_vary_from_a_toml_table(tmp_path: Path) -> None:
    cfg = tmp_path / "sweep.toml"
    cfg.write_text('[sweep]\nchains = ["distill"]\n[sweep.vary]\n"train.learning_rate" = [5e-5, 1e-4]\n'
                   '[sweep.vary.distill]\nkeep = [[1, 5], [2, 5]]\n')
    _, axes = load_plan(cfg, {}, [], {})
    assert axes.vary == {"train.learning_rate": [5e-5, 1e-4], "distill.keep": [[1, 5], [2, 5]]}
    _, axes = load_plan(cfg, {}, [], {"vary": parse_vary(["distill.keep=[0,5]"])})
    assert axes.vary == {"distill.keep": [[0, 5]]}  # the command line replaces the file's axis
