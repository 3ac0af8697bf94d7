"""The energy protocol on fake meters (no hardware): idle baseline and dynamic energy, repeated
inference windows with median and spread, CO2/cost derivation, and how the report shows them."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from greenprune.config import BenchConfig, EnergyConfig, InferenceConfig, RunConfig, build_config
from greenprune.metering import apply_baseline, idle_power, measure_baseline
from greenprune.report import facts
from greenprune.results import EnergyReading, InferenceFigures, ModelReport, PhaseRecord, RunResult


class ConstantPowerMeter:
    """Draws ``idle_w`` all the time, plus ``work_j`` joules per window that did work."""

    name = "fake"
    measured = True

    def __init__(self, idle_w: float, work_j: float = 0.0) -> None:
        self.idle_w, self.work_j = idle_w, work_j

    def available(self) -> tuple[bool, str]:
        return True, "fake"

    def start(self) -> Any:
        return time.perf_counter()

    def stop(self, token: Any) -> list[EnergyReading]:
        window = time.perf_counter() - token
        return [EnergyReading(meter=self.name, joules=self.idle_w * window + self.work_j, method="counter",
                              covers="cpu-package", window_s=window)]

    def close(self) -> None:
        pass


class ScriptedMeter:
    """Returns the next of ``joules`` at each window's end (``None``: no sensor); logs each window."""

    name = "script"
    measured = True

    def __init__(self, joules: list[float | None]) -> None:
        self.joules = list(joules)

    def available(self) -> tuple[bool, str]:
        return True, "scripted"

    def start(self) -> Any:
        return time.perf_counter()

    def stop(self, token: Any) -> list[EnergyReading]:
        return [EnergyReading(meter=self.name, joules=self.joules.pop(0), method="sampled-power", covers="gpu:0",
                              window_s=time.perf_counter() - token)]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Idle baseline
# ---------------------------------------------------------------------------------------------


def test_baseline_is_measured_and_subtracted() -> None:
    idle_w, work_j = 12.0, 5.0
    baseline = measure_baseline([ConstantPowerMeter(idle_w)], 0.05)
    assert len(baseline) == 1 and baseline[0].window_s >= 0.05 and baseline[0].details["idle_baseline"]
    assert idle_power(baseline)[("fake", "cpu-package")] == pytest.approx(idle_w)

    working = ConstantPowerMeter(idle_w, work_j)
    token = working.start()
    time.sleep(0.02)
    [reading] = working.stop(token)
    total = reading.joules
    apply_baseline([reading], baseline)
    assert reading.joules == total  # the meter's total is never touched
    assert reading.baseline_j == pytest.approx(idle_w * reading.window_s)
    assert reading.dynamic_j == pytest.approx(total - idle_w * reading.window_s)
    assert reading.dynamic_j == pytest.approx(work_j)


def test_no_baseline_or_no_figure_leaves_fields_unset() -> None:
    assert measure_baseline([ConstantPowerMeter(1.0)], 0) == []
    r = EnergyReading(meter="fake", joules=3.0, method="counter", covers="cpu-package", window_s=1.0)
    apply_baseline([r], [])
    assert r.baseline_j is None and r.dynamic_j is None
    # a meter without a sensor: no idle power, so no baseline either
    idle = [EnergyReading(meter="fake", joules=None, method="counter", covers="cpu-package", window_s=1.0)]
    apply_baseline([r], idle)
    assert r.baseline_j is None and r.dynamic_j is None
    # another sensor of the same meter is not used as a baseline
    other = [EnergyReading(meter="fake", joules=2.0, method="counter", covers="dram", window_s=1.0)]
    apply_baseline([r], other)
    assert r.baseline_j is None


def test_energy_config_and_run_key() -> None:
    cfg = build_config(sets=["energy.co2_g_per_kwh=400", "energy.price_per_kwh=0.3", "inference.energy_repeats=5"])
    assert cfg.energy.co2_g_per_kwh == 400 and cfg.energy.currency == "EUR" and cfg.inference.energy_repeats == 5
    assert EnergyConfig().idle_baseline_s == 5.0 and InferenceConfig().energy_repeats == 3
    # at the defaults the key is what it was before the energy fields existed (old results resume)
    old = RunConfig().model_dump(mode="json")
    del old["energy"]
    for added in ("energy_repeats", "runtimes", "matrix_batch_sizes", "matrix_threads"):  # added later
        del old["inference"][added]
    assert RunConfig().run_key() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    # report-only factors never change the key; measurement settings do
    priced = RunConfig(energy=EnergyConfig(co2_g_per_kwh=400, price_per_kwh=0.3, currency="USD"))
    assert priced.run_key() == RunConfig().run_key()
    assert RunConfig(energy=EnergyConfig(idle_baseline_s=0)).run_key() != RunConfig().run_key()
    assert RunConfig(inference=InferenceConfig(energy_repeats=5)).run_key() != RunConfig().run_key()
    assert RunConfig(inference=InferenceConfig(runtimes=["eager", "onnxruntime"])).run_key() != RunConfig().run_key()
    assert BenchConfig(sparsity=[0.5]).runs()[0].energy.idle_baseline_s == 5.0


# ---------------------------------------------------------------------------------------------
# Inference: repeated windows
# ---------------------------------------------------------------------------------------------


class _Tokenizer:
    def __call__(self, a: list[str], b: Any, **kw: Any) -> dict[str, Any]:
        import torch

        return {"input_ids": torch.zeros(len(a), kw["max_length"], dtype=torch.long)}


def _model() -> Any:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(8, 2)

        def forward(self, input_ids: Any) -> Any:
            return self.lin(input_ids.float())

    return Tiny()


def test_inference_energy_is_repeated_alternated_with_median_and_spread() -> None:
    from greenprune.inference import MIN_WINDOW_BATCHES, benchmark

    cfg = InferenceConfig(batch_size=4, seq_length=8, warmup=0, repeats=1, min_window_s=0.001, energy_repeats=3)
    # windows end in this order: rep 0 teacher, student; rep 1 student, teacher; rep 2 teacher, student
    meter = ScriptedMeter([40.0, 4.0, 8.0, 80.0, 60.0, None])
    idle = [EnergyReading(meter="script", joules=0.0, method="sampled-power", covers="gpu:0", window_s=1.0)]
    figures = benchmark({"teacher": _model(), "student": _model()}, [{"text_a": "x"}], _Tokenizer(), cfg,
                        [meter], baseline=idle)
    teacher, student = figures["teacher"], figures["student"]
    # every window runs at least the minimum batch count, so its example count is a whole number of batches
    ex = [r.details["examples"] for r in teacher.energy]
    assert all(r.details["batches"] >= MIN_WINDOW_BATCHES and r.details["examples"] == 4 * r.details["batches"]
               for r in [*teacher.energy, *student.energy])
    t = teacher.energy_per_example["script:gpu:0"]
    assert t.windows == 3 and t.method == "sampled-power"
    assert t.values_j == pytest.approx([40 / ex[0], 80 / ex[1], 60 / ex[2]])
    assert t.median_j == pytest.approx(sorted(t.values_j)[1])
    assert (t.min_j, t.max_j) == (min(t.values_j), max(t.values_j))
    assert teacher.energy_per_example_j == {"script:gpu:0": t.median_j}  # the compatible field: the median
    assert t.dynamic_median_j == pytest.approx(t.median_j)  # idle power 0: all of it is dynamic
    # the student's third window had no figure: its spread is over the two that did
    s = student.energy_per_example["script:gpu:0"]
    sx = [r.details["examples"] for r in student.energy]
    assert s.values_j == pytest.approx([4 / sx[0], 8 / sx[1]])
    assert s.median_j == pytest.approx((4 / sx[0] + 8 / sx[1]) / 2)
    assert [r.details["repeat"] for r in teacher.energy] == [0, 1, 2]


def test_inference_without_meters_has_no_energy() -> None:
    from greenprune.inference import benchmark

    cfg = InferenceConfig(batch_size=2, seq_length=8, warmup=0, repeats=2)
    figures = benchmark({"m": _model()}, [{"text_a": "x"}], _Tokenizer(), cfg, [])
    assert figures["m"].energy == [] and figures["m"].energy_per_example == {}


# ---------------------------------------------------------------------------------------------
# CO2 and cost, and the report
# ---------------------------------------------------------------------------------------------


def test_co2_and_cost_math() -> None:
    assert facts.co2_grams(3.6e6, 400) == pytest.approx(400.0)  # 1 kWh at 400 g/kWh
    assert facts.cost(1.8e6, 0.3) == pytest.approx(0.15)  # half a kWh at 0.30 per kWh
    assert facts.co2_grams(None, 400) is None and facts.cost(10.0, None) is None


def _result(co2: float | None, price: float | None) -> RunResult:
    from greenprune.inference import per_example

    baseline = [EnergyReading(meter="fake", joules=20.0, method="counter", covers="cpu-package", window_s=2.0)]
    phases = [PhaseRecord(name="tune:finetune", wall_s=10.0, energy=[
        EnergyReading(meter="fake", joules=360.0, method="counter", covers="cpu-package", window_s=10.0)])]
    windows = [EnergyReading(meter="fake", joules=j, method="counter", covers="cpu-package", window_s=2.0,
                             details={"examples": 100}) for j in (30.0, 50.0, 40.0)]
    apply_baseline([e for p in phases for e in p.energy] + windows, baseline)
    spread = per_example(windows, 3)
    inf = InferenceFigures(batch_size=4, seq_length=16, repeats=1, latency_ms_median=1.0, latency_ms_min=1.0,
                           latency_ms_max=1.0, throughput_per_s=4000.0,
                           energy_per_example_j={k: v.median_j for k, v in spread.items()},
                           energy_per_example=spread, energy=windows)
    return RunResult(run_key="k", started_at="2025-01-01T10:00:00", phases=phases, energy_baseline=baseline,
                     config={"teacher": "t", "task": "demo", "compressors": ["none"], "tuner": "finetune",
                             "energy": {"idle_baseline_s": 2.0, "co2_g_per_kwh": co2, "price_per_kwh": price,
                                        "currency": "EUR"}},
                     teacher=ModelReport(inference=inf), student=ModelReport(inference=inf))


def test_report_shows_baseline_dynamic_spread_and_derived_columns(tmp_path: Path) -> None:
    from greenprune.report import render_reports

    r = _result(co2=400.0, price=0.3)
    assert r.phases[0].energy[0].dynamic_j == pytest.approx(360 - 10 * 10)  # idle 10 W over 10 s
    md_path, _ = render_reports([r], tmp_path)
    md = md_path.read_text(encoding="utf-8")
    assert ("Idle baseline power (one 2.00 s idle window before the first phase): "
            "fake cpu-package: 10.0 W (counter)") in md
    head = ("| Phase | Wall (s) | Reused | Meter | Covers | Method | Total (J) | Baseline (J) | Dynamic (J) | "
            "Window (s) | Note | CO2e (g, total at 400 g/kWh) | Cost (EUR, total at 0.3 EUR/kWh) |")
    assert head in md
    # 360 J = 1e-4 kWh: 0.04 g at 400 g/kWh, 3e-5 EUR at 0.30 EUR/kWh
    assert ("| tune:finetune | 10.0 |   | fake | cpu-package | counter | 360 J | 100 J | 260 J | 10.0 |   "
            "| 0.0400 | 3.00e-05 |") in md
    assert "| all phases | 10.0 |   | fake | cpu-package | counter | 360 J | 100 J | 260 J |" in md
    # median 0.4 J per example over three windows [0.3–0.5]; each window's idle share is 20 J
    # (Markdown escapes the brackets)
    assert "0.400 J \\[0.300–0.500\\], dynamic 0.200 J (counter, fake: cpu-package)" in md
    assert "median over 3 windows per model \\[min–max\\]" in md


def test_report_without_factors_has_no_derived_columns(tmp_path: Path) -> None:
    from greenprune.report import render_reports

    md_path, _ = render_reports([_result(co2=None, price=None)], tmp_path)
    md = md_path.read_text(encoding="utf-8")
    assert "CO2e" not in md and "Cost (" not in md
    assert "| Window (s) | Note |\n" in md
