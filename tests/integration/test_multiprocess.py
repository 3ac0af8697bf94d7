"""Two processes under torchrun (gloo on CPU) compute what one process computes with the same
global batch, write one result, and end with identical CoFi gates on both ranks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from greenprune.cli import main
from tests.conftest import REPO, make_tiny_bert

#: demo task of 48 training examples in 3 global batches of 16 (no partial last batch: with one,
#: accelerate completes it from the first examples so both processes take a step)
FLAGS = ["--compressor", "cofi", "--sparsity", "0.5", "--meter", "cpu-estimate", "--epochs", "1",
         "--set", "demo.train_size=48", "--set", "demo.dev_size=24", "--set", "train.batch_size=16",
         "--set", "train.max_length=32", "--set", "train.logging_steps=1", "--set", "train.eval_batch_size=5",
         "--set", "inference.enabled=false", "--set", "energy.idle_baseline_s=0", "--set", "save_student=false"]
#: float sums run in another order on two processes (DDP averages two half-batch gradients): the
#: logged losses and metrics agree to this, and the final masks exactly
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # No dropout: its random masks depend on each process's share of the batch, not on the data.
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-nodrop"), hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)


def _result(out: Path) -> dict:
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def _phase(result: dict, name: str) -> dict:
    return next(p for p in result["phases"] if p["name"] == name)


@pytest.mark.slow
def test_two_processes_compute_what_one_does(tmp_path: Path, teacher: Path) -> None:
    flags = [*FLAGS, "--teacher", str(teacher)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "1000", "OMP_NUM_THREADS": "1"}
    two = tmp_path / "two"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "greenprune.cli", "bench", "--out", str(two),
                           "--set", f"cache_dir={tmp_path / 'cache2'}", *flags],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    multi = _result(two)
    assert multi["status"] == "ok", multi.get("error")
    # every message once (torchrun's own banner, lines like "W1203 11:43:13 ... run.py:874]", aside)
    messages = [ln for ln in proc.stderr.splitlines() if ln.strip() and not re.match(r"[WIE]\d{4} ", ln)]
    assert len(messages) == len(set(messages)), "a message was printed twice"
    cofi = _phase(multi, "compress:cofi")["details"]
    layout = cofi["train"]
    assert layout["processes"] == 2 and layout["global_batch"] == 16 and layout["per_process_batch"] == 8
    assert layout["processes_identical"] and len(set(layout["param_digests"])) == 1  # gates, lambdas, weights
    # energy from both processes: the CPU-time estimate is per process, so one reading per rank
    for name in ("teacher-finetune", "compress:cofi", "tune:finetune", "evaluate:student"):
        cpu = [e for e in _phase(multi, name)["energy"] if e["covers"] == "process-cpu"]
        assert sorted(e["rank"] for e in cpu) == [0, 1] and {e["scope"] for e in cpu} == {"process"}, name
        assert all(e["host"] and e["joules"] > 0 for e in cpu), name
    assert [w["rank"] for w in multi["extra"]["processes"]] == [0, 1]
    report = (two / "report.md").read_text()
    assert "process-cpu (rank 1)" in report and "process-cpu (ranks 0, 1)" in report  # per rank, and the total

    # The teacher again, now from the cache: the main process loads it and sends its weights to
    # the other (which waited for them forever when only it took part in the broadcast).
    again = tmp_path / "again"
    assert FLAGS[:4] == ["--compressor", "cofi", "--sparsity", "0.5"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "greenprune.cli", "bench", "--out", str(again), "--teacher", str(teacher),
                           "--set", f"cache_dir={tmp_path / 'cache2'}", "--compressor", "none", *FLAGS[4:]],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cached = _result(again)
    assert cached["status"] == "ok" and _phase(cached, "teacher-finetune")["cache_hit"]
    assert cached["teacher"]["metrics"] == multi["teacher"]["metrics"]  # the same teacher, on both processes

    try:
        main(["bench", "--out", str(tmp_path / "one"), "--set", f"cache_dir={tmp_path / 'cache1'}", *flags])
    except SystemExit as exc:
        assert not exc.code, exc
    single = _result(tmp_path / "one")
    assert _phase(single, "compress:cofi")["details"]["train"]["processes"] == 1
    assert [e["rank"] for e in _phase(single, "compress:cofi")["energy"]] == [0]
    # the global batch is the config: the same settings (only the cache folders differ here)
    assert {**multi["config"], "cache_dir": None} == {**single["config"], "cache_dir": None}
    for name in ("teacher-finetune", "compress:cofi", "tune:finetune"):
        a, b = multi["traces"][name], single["traces"][name]
        assert [t["step"] for t in a] == [t["step"] for t in b] == [1, 2, 3]
        for x, y in zip(a, b, strict=True):
            assert x["lr"] == y["lr"]
            assert x["loss"] == pytest.approx(y["loss"], abs=TOLERANCE), name
    assert cofi["measured_sparsity_of_input"] == _phase(single, "compress:cofi")["details"][
        "measured_sparsity_of_input"]
    for part in ("teacher", "student_after_compress", "student"):
        for split, metrics in single[part]["metrics"].items():
            for k, v in metrics.items():
                assert multi[part]["metrics"][split][k] == pytest.approx(v, abs=TOLERANCE), (part, k)


GATHER = """
import json, sys, torch
from greenprune import distributed as dist
loader = torch.utils.data.DataLoader(list(range(23)), batch_size=5)
batches, gather = dist.shard_for_eval(loader)
seen, mine = [], []
for batch in batches:
    mine += batch.tolist()
    seen += gather(batch.tolist())
if dist.is_main():
    json.dump({"gathered": seen, "main_saw": mine}, open(sys.argv[1], "w"))
dist.barrier()  # neither process exits while the other may still be in a collective (gloo aborts then)
"""


def test_evaluation_gathers_every_example_once(tmp_path: Path) -> None:
    # 23 examples in batches of 5 over 2 processes: the last round is padded by accelerate and
    # the padding dropped again by the gather.
    script = tmp_path / "gather.py"
    script.write_text(GATHER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path / "out.json")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["gathered"] == list(range(23))
    assert len(out["main_saw"]) < 23  # the main process predicted only its share


FAILING_RANK = """
import sys
import greenprune.training_phase as tp
from greenprune import distributed as dist
from greenprune.cli import main

train_phase = tp.train_phase


def fail_on_rank_1(*args, **kwargs):
    if dist.rank() == 1:
        raise RuntimeError("injected failure on rank 1")
    return train_phase(*args, **kwargs)


tp.train_phase = fail_on_rank_1
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_a_failing_rank_stops_the_others(tmp_path: Path, teacher: Path) -> None:
    # Rank 1 fails as the teacher's fine-tune starts while rank 0 waits for it inside the training
    # step's collectives. Before, rank 1 went on to the bench's next run and both waited forever;
    # now it stops and exits 1, and torchrun stops rank 0.
    script = tmp_path / "failing.py"
    script.write_text(FAILING_RANK)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "1000", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), "bench", "--out", str(tmp_path / "out"), "--sparsity", "0.6",
                           "--set", f"cache_dir={tmp_path / 'cache'}", "--teacher", str(teacher), *FLAGS],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "greenprune rank 1: run failed: RuntimeError: injected failure on rank 1" in proc.stderr
