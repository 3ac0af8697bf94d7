"""One writer per run: a second bench of the same run into the same folder waits and then skips
it; a sweep cell whose parent was SIGKILLed keeps running, and a re-run of the sweep leaves it
alone (no second process beside it, no second result line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: a tiny bench, no inference benchmark: a few seconds of work after the imports
TINY = ["--meter", "cpu-estimate", "--epochs", "1", "--set", "energy.idle_baseline_s=0", "--set",
        "inference.enabled=false", "--set", "train.max_length=32", "--set", "train.batch_size=16",
        "--set", "demo.train_size=48", "--set", "demo.dev_size=16"]


def greenprune(*args: str) -> list[str]:
    return [sys.executable, "-m", "greenprune", *args]


def result_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def test_a_lock_is_free_again_when_its_holder_is_killed(tmp_path: Path) -> None:
    from greenprune.locks import held_by, hold

    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from greenprune.locks import hold\n"
                               f"with hold(Path({str(lock)!r}), 'test'):\n    print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert held_by(lock) == {**held_by(lock), "pid": holder.pid}
    holder.kill()
    holder.wait()
    assert held_by(lock) is None
    with hold(lock, "test"):
        assert held_by(lock) is not None


def test_two_benches_of_one_run_into_one_folder_write_one_result(tmp_path: Path, tiny_teacher: Path) -> None:
    out = tmp_path / "out"
    args = greenprune("bench", "--compressor", "none", "--out", str(out), "--teacher", str(tiny_teacher),
                      "--set", f"cache_dir={tmp_path / 'cache'}", *TINY)
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errs = [p.communicate(timeout=600)[1] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], errs
    results = result_lines(out)
    assert len(results) == 1 and results[0]["status"] == "ok", errs


def test_an_orphaned_sweep_cell_is_not_started_twice(tmp_path: Path, tiny_teacher: Path) -> None:
    out = tmp_path / "out"
    args = greenprune("sweep", "--chain", "none", "--out", str(out), "--teacher", str(tiny_teacher),
                      "--set", f"cache_dir={tmp_path / 'cache'}", *TINY)
    parent = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "cells").glob("*.log")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(parent.pid, signal.SIGKILL)  # the parent only: its cell goes on, orphaned
    parent.wait()
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    results = result_lines(out)
    assert len(results) == 1 and results[0]["status"] == "ok", again.stderr
    (log,) = (out / "cells").glob("*.log")
    assert log.read_text().count("\n=== ") + log.read_text().startswith("=== ") == 1  # started once
    assert "running in another process" in again.stderr
