"""``machine-cpu``: an example greenprune meter. Energy ~ the busy CPU time of the WHOLE machine
(every process, from Linux ``/proc/stat``) x an assumed power per busy core: an ESTIMATE.

Next to the built-in ``cpu-estimate`` (this process only) it shows what else ran during a window:
on a shared machine the two differ by the neighbours' work. Every reading says ``method="estimate"``
and what it assumed, so no report passes it off as a measurement.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, EnergyReading, Meter, hookimpl

PROC_STAT = Path("/proc/stat")
#: /proc/stat's first line: cpu user nice system idle iowait irq softirq steal ...; the busy fields
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


class MachineCpuOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in an option fails before any model loads
    watts_per_core: float = Field(10.0, gt=0, description="assumed power of one fully busy core (W)")


def busy_seconds(stat: Path = PROC_STAT) -> float:
    """Busy CPU seconds of all cores since boot (``/proc/stat`` counts in clock ticks)."""
    fields = stat.read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in BUSY_FIELDS if i < len(fields)) / os.sysconf("SC_CLK_TCK")


class MachineCpuMeter(Meter):
    """Subclassing ``Meter`` inherits its optional members (``overlaps``, ``close``). The token
    holds the start snapshot, so windows nest."""

    name = "machine-cpu"
    measured = False  # an estimate: ``--meter auto`` never picks it

    def __init__(self, options: MachineCpuOptions) -> None:
        self.options = options

    def available(self) -> tuple[bool, str]:
        if not PROC_STAT.is_file():
            return False, f"{PROC_STAT} not found (Linux only)"
        return True, f"estimate from the machine's busy CPU time x {self.options.watts_per_core:g} W per busy core"

    def start(self) -> Any:
        return time.perf_counter(), busy_seconds()

    def stop(self, token: Any) -> list[EnergyReading]:
        wall0, busy0 = token
        wall, busy = time.perf_counter() - wall0, max(busy_seconds() - busy0, 0.0)
        watts = self.options.watts_per_core
        return [EnergyReading(
            meter=self.name, joules=busy * watts, method="estimate", covers="machine-cpu", window_s=wall,
            note=f"estimate: busy CPU time of every process x {watts:g} W per busy core; not a measurement",
            details={"busy_cpu_seconds": busy, "watts_per_core": watts},
        )]


@hookimpl
def greenprune_register_meters(register: Any) -> None:
    register(Component("machine-cpu", factory=MachineCpuMeter, options=MachineCpuOptions,
                       description="estimate: the whole machine's busy CPU time x watts per busy core"))
