"""The teacher cache shared by concurrent processes: one fine-tune per key, damaged entries named
and rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from greenprune.model_cache import check_entry, private_folder, publish, writer_lock
from tests.conftest import FAST, REPO

# one run per bench (the default chain runs two CoFi targets): the cache is what is tested
BENCH = [sys.executable, "-m", "greenprune", "bench", "--compressor", "none", "--meter", "cpu-estimate",
         "--set", "inference.enabled=false",
         "--set", "energy.idle_baseline_s=0"]


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _teacher_phase(result: dict) -> dict:
    return next(p for p in result["phases"] if p["name"] == "teacher-finetune")


def test_manifest_names_what_is_wrong(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    folder = private_folder(entry)
    assert folder.parent == tmp_path and folder.name.startswith("entry.partial-")
    assert private_folder(entry) != folder  # one folder per writer
    (folder / "meta.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"x" * 100)
    publish(folder, entry)
    assert not folder.exists() and check_entry(entry, "meta.json") is None
    with open(entry / "weights.bin", "r+b") as fh:
        fh.truncate(60)
    assert check_entry(entry, "meta.json") == "weights.bin has 60 bytes, 100 were written"
    (entry / "weights.bin").write_bytes(b"y" * 100)
    assert check_entry(entry, "meta.json") == "weights.bin does not match its checksum"
    (entry / "meta.json").unlink()
    assert check_entry(entry, "meta.json") == "meta.json is missing"


def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    entry, said, order = tmp_path / "entry", [], []
    inside = threading.Event()

    def first() -> None:
        with writer_lock(entry, said.append):
            inside.set()
            time.sleep(0.5)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with writer_lock(entry, said.append):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    assert len(said) == 1 and "waiting for it" in said[0] and str(entry) in said[0]


@pytest.mark.slow
def test_three_concurrent_benches_fine_tune_the_teacher_once(tmp_path: Path, tiny_teacher: Path) -> None:
    cache = tmp_path / "cache"
    flags = ["--teacher", str(tiny_teacher), "--set", f"cache_dir={cache}", *FAST]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "1000"}  # no wrapping of long paths
    procs = [subprocess.Popen([*BENCH, "--out", str(tmp_path / f"out{i}"), *flags], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path) for i in range(3)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], logs
    results = [r for i in range(3) for r in _results(tmp_path / f"out{i}")]
    assert [r["status"] for r in results] == ["ok"] * 3
    assert sum(not _teacher_phase(r)["cache_hit"] for r in results) == 1  # trained once, reused twice
    (entry,) = [p for p in (cache / "finetuned").iterdir() if p.is_dir()]
    assert check_entry(entry, "greenprune-finetune.json") is None  # nothing left half-written beside it

    # A damaged entry: one line naming its path, then the run rebuilds it (and finishes ok).
    with open(entry / "model.safetensors", "r+b") as fh:
        fh.truncate(100)
    proc = subprocess.run([*BENCH, "--out", str(tmp_path / "out3"), *flags], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    damaged = [ln for ln in proc.stderr.splitlines() if "damaged" in ln]
    assert len(damaged) == 1 and str(entry) in damaged[0] and "model.safetensors" in damaged[0], proc.stderr
    (rebuilt,) = _results(tmp_path / "out3")
    assert rebuilt["status"] == "ok" and not _teacher_phase(rebuilt)["cache_hit"]
    assert check_entry(entry, "greenprune-finetune.json") is None
    assert sorted(p.name for p in (cache / "finetuned").iterdir()) == sorted([entry.name, entry.name + ".lock"])
