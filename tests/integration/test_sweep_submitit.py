"""``greenprune sweep --launcher submitit-local``: cells as submitit jobs (the code path of a Slurm
job array, on this machine), killed and resumed without redoing finished cells."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAST, REPO
from tests.integration.test_cli import one_line_error, run


def _results(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _processes_gone(marker: str, within_s: float) -> bool:
    """Whether no process mentioning ``marker`` on its command line is left after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        alive = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    alive.append(proc.name)
            except OSError:  # it ended while we looked
                continue
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.5)


def test_bad_launcher_settings_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["sweep", "--out", str(tmp_path / "out"), "--dry-run"]
    code, _, err = run([*base, "--job", "timeout_min=5"], capsys)
    assert code == 2 and "add --launcher submitit" in one_line_error(err)
    code, _, err = run([*base, "--launcher", "submitit-local", "--job", "no_such_setting=1"], capsys)
    assert code == 2 and "no_such_setting" in one_line_error(err)
    if not any((Path(p) / "sbatch").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        code, _, err = run([*base, "--launcher", "submitit"], capsys)
        assert code == 2 and "no sbatch here" in one_line_error(err)


@pytest.mark.slow
def test_four_cells_through_submitit_killed_and_resumed(tmp_path: Path, tiny_teacher: Path) -> None:
    out = tmp_path / "out"
    # 2 tuners x 2 seeds: each seed's teacher is fine-tuned once and shared by its two cells (the
    # cache lock), the finetune cells are then served from the cache and finish first, the adapter
    # cells train longer: the sweep is stopped (SIGTERM) while one or both still run.
    args = [sys.executable, "-m", "greenprune", "sweep", "--launcher", "submitit-local", "--out", str(out),
            "--chain", "none", "--tuner", "finetune", "--tuner", "adapter", "--seed", "1", "--seed", "2",
            "--meter", "cpu-estimate", "--teacher", str(tiny_teacher), "--set", f"cache_dir={tmp_path / 'cache'}",
            *FAST, "--set", "inference.enabled=false", "--set", "energy.idle_baseline_s=0",
            "--set", "adapter.epochs=40", "--set", "adapter.bottleneck=4"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "1000"}
    # Started the way a background job of a non-interactive shell is (`nohup ... &`, a CI script):
    # with SIGINT ignored, which every process it starts inherits. submitit cancels a local job
    # with SIGINT, so this is the case where a cancel could silently do nothing.
    sweep = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             cwd=tmp_path, preexec_fn=_ignore_sigint)
    deadline = time.monotonic() + 900
    while sum(r["status"] == "ok" for r in _results(out)) < 2 and time.monotonic() < deadline:
        assert sweep.poll() is None, sweep.communicate()[0]
        time.sleep(1)
    assert sum(r["status"] == "ok" for r in _results(out)) >= 2, "no cell finished in time"
    sweep.send_signal(signal.SIGTERM)  # as a job runner or `kill` stops it
    log = sweep.communicate(timeout=120)[0]
    assert sweep.returncode == 130, log
    assert "submitted 4 cells as job array" in log, log
    finished = {r["run_key"] for r in _results(out) if r["status"] == "ok"}
    assert 2 <= len(finished) < 4, log  # stopped while cells still ran
    assert _processes_gone(str(out), within_s=30), "a cancelled cell's processes still run"
    assert {r["run_key"] for r in _results(out) if r["status"] == "ok"} == finished  # none ran on to the end
    assert f"interrupted: cancelled the jobs of {4 - len(finished)} unfinished cells" in log, log
    assert list((out / "submitit").iterdir())  # submitit's own job logs, beside cells/<key>.log
    assert all((out / "cells" / f"{key}.log").is_file() for key in finished)

    resumed = subprocess.run(args, capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(finished)} of 4 cells already finished" in resumed.stderr, resumed.stderr
    assert f"submitted {4 - len(finished)} cells" in resumed.stderr, resumed.stderr
    ok = [r for r in _results(out) if r["status"] == "ok"]
    assert len(ok) == 4 and len({r["run_key"] for r in ok}) == 4  # nothing finished was run again
    teachers = [next(p for p in r["phases"] if p["name"] == "teacher-finetune") for r in ok]
    assert sum(not t["cache_hit"] for t in teachers) <= 2  # one fine-tune per seed at most
