"""A real third-party plugin package, installed with pip, adds a component that the bench uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST

EXAMPLE = Path(__file__).resolve().parents[1] / "example_plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    # --no-build-isolation: build with this environment's setuptools (no network needed).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, capture_output=True)
    return target


def greenprune(args: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "greenprune", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def test_installed_plugin_is_listed(plugin_site: Path) -> None:
    proc = greenprune(["plugins", "--json"], plugin_site)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["headonly"]["components"] == {"tuner": ["head-only"]}
    assert rows["headonly"]["version"] == "0.2.0"
    assert rows["headonly"]["distribution"] == "greenprune-headonly"


@pytest.mark.slow
def test_bench_uses_the_plugin_tuner(plugin_site: Path, tiny_teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = greenprune(["-q", "bench", "--compressor", "none", "--tuner", "head-only",
                       "--set", "head-only.learning_rate=0.01",
                       "--teacher", str(tiny_teacher), "--set", f"cache_dir={tmp_path / 'cache'}",
                       "--meter", "cpu-estimate", "--out", str(out), *FAST], plugin_site)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "results.jsonl").read_text())
    tune = next(p for p in result["phases"] if p["name"] == "tune:head-only")
    # only the pooler and the classifier trained: far fewer than all parameters
    assert 0 < tune["details"]["trainable_params"] < result["student"]["size"]["total_params"] / 10
    # disabling it by name takes the component away again
    proc = greenprune(["--disable", "headonly", "bench", "--tuner", "head-only", "--out", str(out)], plugin_site)
    assert proc.returncode == 2 and "unknown tuner 'head-only'" in proc.stderr
