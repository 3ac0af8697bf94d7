"""The CLI end to end on a tiny random BERT and the demo task; bad input gives one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenprune.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_help_and_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "bench" in out and "plugins" in out
    code, out, _ = run(["plugins", "--json"], capsys)
    names = {r["name"] for r in json.loads(out)}
    assert {"teachers", "demo", "glue", "finetune", "none", "cpu-estimate", "evaluators"} <= names


def test_meters_command_shows_availability(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["meters", "--json"], capsys)
    rows = {r["meter"]: r for r in json.loads(out)}
    assert rows["cpu-estimate"]["available"] and not rows["cpu-estimate"]["measured"]
    assert all(r["reason"] for r in rows.values())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--task", "mrcp"], "unknown task 'mrcp'. Did you mean 'mrpc'?"),
        (["--compressor", "cofy"], "unknown compressor 'cofy'"),
        (["--tuner", "finetun"], "Did you mean 'finetune'?"),
        (["--meter", "rapll"], "unknown meter 'rapll'"),
        (["--teacher", "minilmm"], "unknown teacher 'minilmm'. Did you mean 'minilm'?"),
        (["--set", "finetune.epochz=2"], "finetune.epochz: Extra inputs are not permitted"),
        (["--set", "cofee.x=1"], "unknown component in options 'cofee'"),
        (["--set", "train.epochs=-1"], "bad config value for 'train.epochs'"),
        (["--compressor", "none", "--sparsity", "0.6"], "--sparsity needs a compressor that prunes"),
        (["--sparsity", "1.2"], "1.2 is outside (0, 1)"),
        (["--task", "mrpc", "--data-dir", "/nonexistent/glue"], "/nonexistent/glue"),
    ],
)
def test_bad_input_gives_one_line(args: list[str], expected: str, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    code, _, err = run(["-q", "bench", "--out", str(tmp_path), *args], capsys)
    assert code == 2
    assert expected in one_line_error(err)
    assert not (tmp_path / "results.jsonl").exists()


def test_hub_unreachable_says_how_to_work_offline(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENPRUNE_DATA_DIR", raising=False)
    code, _, err = run(["-q", "bench", "--out", str(tmp_path), "--task", "rte"], capsys)
    assert code == 2 and "--data-dir" in one_line_error(err)


def test_malformed_tsv_names_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           tiny_teacher: Path) -> None:
    rte = tmp_path / "glue" / "RTE"
    rte.mkdir(parents=True)
    (rte / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tmaybe\n")
    (rte / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    code, _, err = run(["-q", "bench", "--out", str(tmp_path / "o"), "--task", "rte", "--data-dir",
                        str(tmp_path / "glue"), "--teacher", str(tiny_teacher)], capsys)
    line = one_line_error(err)
    assert code == 2 and "train.tsv" in line and "line 3" in line


@pytest.mark.slow
def test_demo_bench_end_to_end_and_resume(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          fast_flags: list[str]) -> None:
    # no --compressor, no --sparsity: the default bench compresses, at the pruner's default targets
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager

    targets = list(collect(make_plugin_manager()).get("compressor", "cofi").default_sparsities)
    out = tmp_path / "out"
    code, stdout, err = run(["bench", "--out", str(out), "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0, err
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["config"]["sparsity"] for r in results] == targets
    for result in results:
        assert result["schema_version"] == 1 and result["status"] == "ok"
        assert result["config"]["train"]["epochs"] == 1.0 and result["config"]["compressors"] == ["cofi"]
        names = [p["name"] for p in result["phases"]]
        assert names == ["teacher-finetune", "evaluate:teacher", "compress:cofi", "evaluate:compressed",
                         "tune:finetune", "evaluate:student", "inference"]
        for phase in result["phases"]:
            assert phase["energy"] and phase["energy"][0]["method"] == "estimate"
        assert result["task"]["synthetic"] and "SYNTHETIC" in result["task"]["notes"][0]
        assert result["student"]["size"]["measured_sparsity"] > 0
        assert result["student"]["inference"]["latency_ms_median"] > 0
        student = Path(result["extra"]["student_path"])
        assert (student / "config.json").exists()
        card = (student / "README.md").read_text()  # the model card, Hugging Face layout
        assert card.startswith("---\n") and "model-index:" in card and "How to load" in card
        assert "estimate" in card and "Speed-up" in card
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert "## Energy payback" in (out / "report.md").read_text()
    # the headline on stdout: one row per student, the report's place
    assert "metric kept" in stdout and "pays back after" in stdout and str(out / "report.html") in stdout
    assert stdout.count("cofi / finetune") == len(targets)
    # a second call finds the runs finished and skips them
    code, _, err = run(["bench", "--out", str(out), "--meter", "cpu-estimate", *fast_flags], capsys)
    assert code == 0 and err.count("already finished") == len(targets)
    assert len((out / "results.jsonl").read_text().splitlines()) == len(targets)
    # the report re-renders from the results alone
    (out / "report.md").unlink()
    code, _, _ = run(["report", str(out)], capsys)
    assert code == 0 and (out / "report.md").exists()


def test_sigterm_stops_a_command_like_ctrl_c(tmp_path: Path) -> None:
    # kill / a job runner / a sweep stopping its cell: the same clean exit as Ctrl-C (finished
    # results kept), not a silent death
    import signal
    import subprocess
    import sys
    import time

    script = ("import time, click\n"
              "from greenprune import cli\n"
              "@cli.cli.command()\n"
              "def wait():\n"
              "    print('ready', flush=True); time.sleep(60)\n"
              "cli.main(['wait'])\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted; finished runs are kept" in err
    assert time.monotonic() - started < 30


def test_the_teacher_is_the_same_whatever_ran_before(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      fast_flags: list[str]) -> None:
    # Two sweep shards (or two machines) with one config must fine-tune the same teacher: the task
    # head's random init is seeded too, not only the training loop.
    import torch
    from safetensors.torch import load_file

    weights = []
    for i, disturb in enumerate((3, 11)):
        torch.manual_seed(1000 + i)
        torch.rand(disturb)  # whatever the process did before leaves the global RNG elsewhere
        cache = tmp_path / f"cache{i}"
        code, _, err = run(["bench", "--out", str(tmp_path / f"out{i}"), "--compressor", "none",
                            "--meter", "cpu-estimate", *fast_flags,
                            "--set", f"cache_dir={cache}", "--set", "inference.enabled=false"], capsys)
        assert code == 0, err
        (model_file,) = cache.rglob("model.safetensors")
        weights.append(load_file(str(model_file)))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
