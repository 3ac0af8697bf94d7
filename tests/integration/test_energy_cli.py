"""The energy protocol end to end: two meters side by side, an idle baseline, repeated inference
windows, and the report's derived CO2 and cost columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run

pytest.importorskip("perun")


@pytest.mark.slow
def test_bench_with_perun_and_cpu_estimate(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           fast_flags: list[str]) -> None:
    from greenprune_builtins.meters.perun_meter import PerunMeter

    perun_measures = PerunMeter().available()[0] and PerunMeter().measured
    out = tmp_path / "out"
    code, _, err = run(["bench", "--out", str(out), "--compressor", "none", "--meter", "perun",
                        "--meter", "cpu-estimate", *fast_flags,
                        "--set", "energy.idle_baseline_s=0.2", "--set", "inference.energy_repeats=2",
                        "--set", "energy.co2_g_per_kwh=400", "--set", "energy.price_per_kwh=0.3"], capsys)
    assert code == 0, err
    [result] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["status"] == "ok" and result["schema_version"] == 1

    # the idle baseline: one window per meter, kept apart from the phases
    baseline = {r["meter"]: r for r in result["energy_baseline"]}
    assert set(baseline) == {"perun", "cpu-estimate"} and baseline["cpu-estimate"]["window_s"] >= 0.2
    assert not any(p["name"].startswith("idle") for p in result["phases"])

    for phase in result["phases"]:
        by = {r["meter"]: r for r in phase["energy"]}
        assert set(by) == {"perun", "cpu-estimate"}
        cpu = by["cpu-estimate"]
        assert cpu["method"] == "estimate" and cpu["joules"] is not None
        assert cpu["dynamic_j"] == pytest.approx(cpu["joules"] - cpu["baseline_j"])
        if not perun_measures:  # this machine: perun finds no energy sensor, and says so
            assert by["perun"]["joules"] is None and by["perun"]["baseline_j"] is None
            assert by["perun"]["note"].startswith("perun found no energy sensor on this machine")

    for model in ("teacher", "student"):
        inf = result[model]["inference"]
        spread = inf["energy_per_example"]["cpu-estimate:process-cpu"]
        assert spread["windows"] == 2 and spread["min_j"] <= spread["median_j"] <= spread["max_j"]
        assert inf["energy_per_example_j"]["cpu-estimate:process-cpu"] == spread["median_j"]
        assert len([r for r in inf["energy"] if r["meter"] == "cpu-estimate"]) == 2
        if not perun_measures:
            assert inf["energy_per_example_j"]["perun:none"] is None

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Idle baseline power" in md and "CO2e (g, total at 400 g/kWh)" in md
    assert "Cost (EUR, total at 0.3 EUR/kWh)" in md
    assert "median over 2 windows per model" in md
