"""The cpu-estimate meter against known CPU work, and the meters' registration."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from greenprune_builtins.meters import cpu_estimate, nvml, perun_meter, rapl
from greenprune_builtins.meters.cpu_estimate import CpuEstimateMeter, CpuEstimateOptions

from greenprune.components import Component
from greenprune.errors import UserError
from greenprune.metering import Meter


def burn(seconds: float) -> float:
    """Spin pure Python until this thread has used ``seconds`` of CPU; return the CPU time used.

    Thread CPU time, not wall time, is the known quantity: on a loaded machine a loop can run for
    0.3 s of wall time and get half of that on a core."""
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        x += 1
    return time.thread_time() - t0


def test_busy_loop_is_charged_cpu_seconds_times_watts() -> None:
    meter = CpuEstimateMeter(CpuEstimateOptions(watts_per_core=12.5))
    token = meter.start()
    wall = burn(0.3)
    (reading,) = meter.stop(token)
    cpu = reading.details["cpu_seconds"]
    assert cpu == pytest.approx(wall, rel=0.3)
    assert reading.joules == pytest.approx(cpu * 12.5)
    assert reading.method == "estimate"
    assert reading.covers == "process-cpu"
    assert reading.details["watts_per_core"] == 12.5
    assert reading.note == "estimate: process CPU time x 12.5 W per busy core; not a measurement"
    assert reading.window_s >= wall * 0.99


def test_sleeping_window_costs_about_nothing() -> None:
    meter = CpuEstimateMeter()
    token = meter.start()
    time.sleep(0.2)
    (reading,) = meter.stop(token)
    assert reading.details["cpu_seconds"] < 0.03
    assert reading.joules is not None and reading.joules < 0.3


def test_nested_windows() -> None:
    meter = CpuEstimateMeter()
    outer = meter.start()
    burn(0.1)
    inner = meter.start()
    inner_wall = burn(0.2)
    (inner_reading,) = meter.stop(inner)
    burn(0.1)
    (outer_reading,) = meter.stop(outer)
    assert inner_reading.details["cpu_seconds"] == pytest.approx(inner_wall, rel=0.3)
    assert outer_reading.details["cpu_seconds"] > inner_reading.details["cpu_seconds"] + 0.1
    assert outer_reading.window_s > inner_reading.window_s


def test_reaped_children_are_counted_unless_disabled() -> None:
    # the child burns 0.3 s of its own CPU time (not wall time: the machine may be loaded)
    child = [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]
    with_kids, without = CpuEstimateMeter(), CpuEstimateMeter(CpuEstimateOptions(include_children=False))
    t1, t2 = with_kids.start(), without.start()
    subprocess.run(child, check=True)
    (r2,) = without.stop(t2)
    (r1,) = with_kids.stop(t1)
    assert r1.details["children_cpu_seconds"] > 0.2
    assert r2.details["children_cpu_seconds"] == 0
    assert r2.details["cpu_seconds"] < 0.1  # the parent only waited


def test_always_available_and_not_measured() -> None:
    meter = CpuEstimateMeter()
    ok, why = meter.available()
    assert ok and "10 W per busy core" in why
    assert meter.measured is False
    assert isinstance(meter, Meter)


@pytest.mark.parametrize(("module", "name", "measured"), [
    (cpu_estimate, "cpu-estimate", False), (rapl, "rapl", True), (nvml, "nvml", True),
    (perun_meter, "perun", True),
])
def test_each_meter_module_registers_one_meter(module: Any, name: str, measured: bool) -> None:
    registered: list[Component] = []
    module.greenprune_register_meters(register=registered.append)
    (comp,) = registered
    assert comp.name == name and comp.description
    comp.kind = "meter"
    meter = comp.build({})
    assert meter.name == name and type(meter).measured is measured
    assert isinstance(meter, Meter)
    with pytest.raises(UserError, match="valid options"):
        comp.build({"no_such_option": 1})
