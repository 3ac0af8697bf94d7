"""The ``cpu-estimate`` meter: process CPU time x an assumed power per busy core. NOT a measurement.

It is the fallback of ``--meter auto`` on machines without readable sensors, and every reading it
makes is labelled ``method="estimate"`` with the figure it assumed, so a report can never pass it
off as measured energy.

What it counts: the CPU time (user + system, every thread) of this process during the window,
plus the CPU time of child processes that finished *and were waited for* during the window (what
``RUSAGE_CHILDREN`` reports: e.g. data-loader workers once they are joined). A child still running
when the window closes is charged to the window in which it is reaped, so windows that start
long-lived workers can be off; ``include_children=False`` drops children altogether. Idle power,
other processes, memory, disks and GPUs are not counted at all.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, EnergyReading, Meter, hookimpl

# Why 10 W: a busy core of a current x86 server draws very roughly 4-15 W (a 150-300 W package
# spread over 16-64 cores), a laptop core 3-10 W. 10 W is a round figure inside that range, good
# to an order of magnitude only; set ``watts_per_core`` from your CPU's TDP / cores if you know it.
DEFAULT_WATTS_PER_CORE = 10.0


class CpuEstimateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    watts_per_core: float = Field(DEFAULT_WATTS_PER_CORE, gt=0,
                                  description="assumed power of one fully busy core (W); a rough figure")
    include_children: bool = Field(True, description="add CPU time of child processes reaped in the window")


def _children_cpu_seconds() -> float:
    try:
        import resource
    except ImportError:  # not on Unix: os.times() fills children fields there only on some systems
        t = os.times()
        return t.children_user + t.children_system
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class CpuEstimateMeter(Meter):
    """Energy ~ CPU seconds x watts per busy core. The token is the CPU-time snapshot at start,
    so windows nest freely."""

    name = "cpu-estimate"
    measured = False

    def __init__(self, options: CpuEstimateOptions | None = None) -> None:
        self.options = options or CpuEstimateOptions()

    def available(self) -> tuple[bool, str]:
        return True, f"estimate from process CPU time x {self.options.watts_per_core:g} W per busy core"

    def _snapshot(self) -> tuple[float, float, float]:
        # process_time() is CLOCK_PROCESS_CPUTIME_ID: all threads, ns resolution (os.times() ticks
        # at 10 ms, too coarse for short inference windows).
        children = _children_cpu_seconds() if self.options.include_children else 0.0
        return time.perf_counter(), time.process_time(), children

    def start(self) -> Any:
        return self._snapshot()

    def stop(self, token: Any) -> list[EnergyReading]:
        wall1, own1, kids1 = self._snapshot()
        wall0, own0, kids0 = token
        own, kids = max(own1 - own0, 0.0), max(kids1 - kids0, 0.0)
        cpu_seconds = own + kids
        watts = self.options.watts_per_core
        return [EnergyReading(
            meter=self.name,
            joules=cpu_seconds * watts,
            method="estimate",
            covers="process-cpu",
            scope="process",  # this process's CPU time: every rank of a multi-process run has its own
            window_s=wall1 - wall0,
            note=f"estimate: process CPU time x {watts:g} W per busy core; not a measurement",
            details={"watts_per_core": watts, "cpu_seconds": cpu_seconds,
                     "process_cpu_seconds": own, "children_cpu_seconds": kids},
        )]

    def close(self) -> None:
        pass


@hookimpl
def greenprune_register_meters(register: Any) -> None:
    register(Component(
        name="cpu-estimate", factory=lambda opts: CpuEstimateMeter(opts), options=CpuEstimateOptions,
        description="estimate: process CPU time x watts per busy core (always available; not measured)",
    ))
