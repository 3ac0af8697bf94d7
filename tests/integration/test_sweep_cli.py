"""``greenprune sweep`` end to end: real cell subprocesses on a tiny random BERT and the demo task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.slow


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_two_cell_sweep_shares_the_teacher_and_resumes(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    args = ["sweep", "--out", str(out), "--chain", "none", "--tuner", "finetune", "--tuner", "adapter",
            "--meter", "cpu-estimate", "--set", "adapter.bottleneck=4", *fast_flags]
    code, listing, err = run([*args, "--dry-run"], capsys)
    assert code == 0, err
    assert "2 cells" in listing and listing.count("pending") == 2 and not out.exists()

    code, _, err = run(args, capsys)
    assert code == 0, err
    first, second = lines(out)
    assert [r["status"] for r in (first, second)] == ["ok", "ok"]
    assert [r["config"]["tuner"] for r in (first, second)] == ["finetune", "adapter"]
    # one cache for every cell: the second cell's teacher is the first one's fine-tune
    teacher_phase = next(p for p in second["phases"] if p["name"] == "teacher-finetune")
    assert teacher_phase["cache_hit"]
    for r in (first, second):
        assert (out / "cells" / f"{r['run_key']}.json").is_file() and (out / "cells" / f"{r['run_key']}.log").is_file()
    assert (out / "report.md").is_file() and (out / "report.html").is_file()

    code, listing, _ = run([*args, "--dry-run"], capsys)
    assert listing.count("done") == 2
    code, _, err = run(args, capsys)
    assert code == 0 and "2 of 2 cells already finished" in err
    assert len(lines(out)) == 2


def test_failing_cells_are_recorded_and_the_sweep_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         fast_flags: list[str]) -> None:
    # The files are there (the sweep's pre-flight passes) but a row is bad: each cell stops on a
    # user error in its own process when it reads the data.
    rte = tmp_path / "glue" / "RTE"
    rte.mkdir(parents=True)
    (rte / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    (rte / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    out = tmp_path / "out"
    code, _, err = run(["-q", "sweep", "--out", str(out), "--task", "rte", "--data-dir", str(tmp_path / "glue"),
                        "--chain", "none", "--tuner", "finetune", "--tuner", "adapter", "--meter", "cpu-estimate",
                        *fast_flags], capsys)
    assert code == 1, err
    failed = lines(out)
    assert [r["status"] for r in failed] == ["failed", "failed"]
    assert [r["config"]["tuner"] for r in failed] == ["finetune", "adapter"]
    for r in failed:
        assert "user error (exit code 2)" in r["error"] and "train.tsv" in r["error"]
        assert r["extra"]["sweep"]["exit_code"] == 2
    assert "failed" in (out / "report.md").read_text()


def test_a_missing_data_dir_stops_the_sweep_before_any_cell(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["-q", "sweep", "--out", str(out), "--task", "rte", "--data-dir", str(tmp_path / "none"),
                        "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 2 and "sweep cell 0" in err and str(tmp_path / "none") in err
    assert not (out / "results.jsonl").exists()


def test_a_settings_axis_runs_each_value_and_the_report_tells_them_apart(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fast_flags: list[str]) -> None:
    out = tmp_path / "out"
    args = ["sweep", "--out", str(out), "--chain", "distill", "--vary", "distill.keep=[0]",
            "--vary", "distill.keep=[1]", "--meter", "cpu-estimate", *fast_flags]
    code, listing, err = run([*args, "--dry-run"], capsys)
    assert code == 0, err
    assert "[distill.keep=[0]]" in listing and "[distill.keep=[1]]" in listing and listing.count("pending") == 2
    code, _, err = run(args, capsys)
    assert code == 0, err
    results = lines(out)
    assert [r["config"]["options"]["distill"]["keep"] for r in results] == [[0], [1]]
    kept = [next(p for p in r["phases"] if p["name"] == "compress:distill")["details"]["kept_layers"] for r in results]
    assert kept == [[0], [1]]
    md = (out / "report.md").read_text(encoding="utf-8")
    # Markdown escapes the brackets
    assert "distill / finetune (distill.keep=\\[0\\])" in md and "distill / finetune (distill.keep=\\[1\\])" in md
    assert "| Layer | Teacher layer |" in md and "| 0 | 1 |" in md
