"""``greenprune verify OUT`` checks OUT's own saved students (not the paths recorded when the
run wrote them, which may be another folder's), and gives a verdict for every run whatever is
wrong with one of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_cli import run
from tests.reliability.test_locks import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> tuple[Path, list[str]]:
    from greenprune.cli import main

    out = tmp_path_factory.mktemp("verify") / "out"
    for seed in ("1", "2"):
        try:
            main(["-q", "bench", "--compressor", "none", "--out", str(out), "--teacher", str(tiny_teacher),
                  "--seed", seed,
                  "--set", f"cache_dir={out.parent / 'cache'}", *TINY])
        except SystemExit as exc:
            assert not exc.code
    keys = [json.loads(line)["run_key"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(keys) == 2
    return out, keys


def verdicts(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines() if line.strip()}


def test_a_copied_folder_without_its_weights_is_not_identical(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              two_runs: tuple[Path, list[str]]) -> None:
    out, (gone, kept) = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "models" / gone)
    code, stdout, err = run(["verify", str(copy)], capsys)
    lines = verdicts(stdout)
    assert code == 1, err
    assert "FAILED" in lines[gone] and "no saved student" in lines[gone] and str(copy) in lines[gone]
    assert "identical" in lines[kept] and str(copy / "models" / kept) in lines[kept]


def test_truncated_weights_fail_that_run_only(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              two_runs: tuple[Path, list[str]]) -> None:
    out, (first, broken) = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (weights,) = (copy / "models" / broken).glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    code, stdout, err = run(["verify", str(copy)], capsys)
    lines = verdicts(stdout)
    assert code == 1 and "Traceback" not in err, err
    assert "FAILED" in lines[broken] and len(lines[broken].splitlines()) == 1
    assert "identical" in lines[first]
