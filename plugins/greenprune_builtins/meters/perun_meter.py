"""The ``perun`` meter: energy from the sensors that the perun package finds on this machine.

Why perun's backends and not its regions: perun's public API (``@perun.perun`` around a whole
application, ``@perun.monitor`` marking regions inside it) starts a sampling subprocess per run,
computes region energy only after the application has returned, writes result files, and cannot
open and close nested windows on demand. So this meter uses perun for what it is good at, finding
sensors (``perun.backend``: powercap RAPL, NVML, ROCm SMI, Grace hwmon, psutil), and reads them
itself:

* energy counters (unit J: RAPL package / DRAM) are read at the window edges -> ``counter``
  (plus a slow thread that catches repeated wraparounds, as in the ``rapl`` meter);
* power sensors (unit W: GPUs, Grace) are polled by a daemon thread and integrated with the
  trapezoid rule -> ``sampled-power``.

Start-up (importing perun, probing every backend: seconds, mostly ``cpuinfo``) happens in
:meth:`PerunMeter.prepare`, which ``available()`` calls, so it is paid when meters are chosen and
never inside a metered phase. On a machine where perun finds no energy sensor (psutil only) the
meter stays available and returns one ``joules=None`` reading per window saying so; it then sets
``measured = False`` so that ``--meter auto`` falls back to the CPU estimate instead of picking a
meter that yields no figure.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, EnergyReading, Meter, hookimpl
from greenprune_builtins.meters.nvml import Poller, PowerIntegrator
from greenprune_builtins.meters.rapl import WrappingCounter


class PerunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sampling_period_s: float = Field(0.05, gt=0, le=5.0, description="polling period of power sensors")
    wrap_check_s: float = Field(30.0, gt=0, description="how often energy counters are read for wraparound")


def _scaled(sensor: Any, scale: float) -> float:
    return float(sensor.read()) * scale


@dataclass
class _Source:
    covers: str
    sensor: str
    backend: str
    counter: WrappingCounter | None = None  # joules = total * scale
    integrator: PowerIntegrator | None = None
    scale: float = 1.0


@dataclass
class _State:
    version: str
    backends: list[str]
    missing: dict[str, str]
    sources: list[_Source] = field(default_factory=list)
    startup_s: float = 0.0


def _covers(backend: str, sensor_id: str) -> str:
    gpu = re.match(r"^(?:CUDA|ROCM):([^_]+)_POWER$", sensor_id)
    if gpu:
        return f"gpu:{gpu.group(1)}"
    rapl = re.match(r"^(cpu|ram)_(\d+)_", sensor_id)  # perun's powercap ids: cpu_0_package-0, ram_0_dram
    if rapl:
        return f"{'cpu-package' if rapl.group(1) == 'cpu' else 'dram'}:{rapl.group(2)}"
    return f"{backend}:{sensor_id}"


def _counter_read(sensor: Any) -> Any:
    def read() -> int:
        value = int(sensor.read())
        # perun's RAPL callback returns 0 when the read fails; taken as a value it would look
        # like a wraparound and add a whole counter range. A real 0 is as good as impossible.
        if value == 0:
            raise ValueError(f"perun sensor {sensor.id} returned 0 (read failed)")
        return value

    return read


_STATE_LOCK = threading.Lock()
_STATE: _State | None = None


def _shared_state() -> _State:
    """Probe once per process: the probe costs seconds, and perun's backends are singletons anyway."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is None:
            t0 = time.perf_counter()
            _STATE = _build_state()
            _STATE.startup_s = time.perf_counter() - t0
        return _STATE


def _build_state() -> _State:
    import perun
    from perun.backend import available_backends
    from perun.data_model.measurement_type import Unit

    backends: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name, cls in available_backends.items():
        try:
            backend = cls()  # perun's backends are process-wide singletons
            backends[backend.id] = backend
        except Exception as exc:  # perun raises ImportWarning, NVMLError, its own errors...
            missing[name] = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    state = _State(version=perun.__version__, backends=sorted(backends), missing=missing)
    for backend in backends.values():
        wanted = {sid for sid, md in backend.availableSensors().items() if md[2] in (Unit.JOULE, Unit.WATT)}
        for sensor in sorted(backend.getSensors(wanted), key=lambda s: s.id):
            md = sensor.dataType
            src = _Source(_covers(backend.id, sensor.id), sensor.id, backend.id, scale=float(md.mag.value))
            if md.unit == Unit.JOULE:
                try:  # the counter reads its baseline now: a sensor that cannot be read is left out
                    src.counter = WrappingCounter(_counter_read(sensor), int(md.max) if md.max else None)
                except Exception as exc:
                    state.missing[f"{backend.id}:{sensor.id}"] = f"unreadable: {exc}"
                    continue
            else:
                src.integrator = PowerIntegrator(functools.partial(_scaled, sensor, src.scale))
            state.sources.append(src)
    return state


class PerunMeter(Meter):
    name = "perun"
    measured = True  # set to False by prepare() when perun finds no energy sensor
    #: perun reads RAPL and NVML itself: --meter auto never pairs it with those meters
    overlaps = ("rapl", "nvml")

    def __init__(self, options: PerunOptions | None = None) -> None:
        self.options = options or PerunOptions()
        self._state: _State | None = None
        self._why_not: str | None = None
        self._pollers: list[Poller] = []

    def prepare(self) -> _State:
        """Import perun and probe its backends once (slow); idempotent. Call before any window."""
        if self._state is None and self._why_not is None:
            try:
                self._state = _shared_state()
            except ImportError as exc:
                self._why_not = f"perun is not installed ({exc}); pip install perun"
            except Exception as exc:
                self._why_not = f"perun failed to start: {type(exc).__name__}: {exc}"
            if self._state is not None:
                self.measured = bool(self._state.sources)
                self._pollers = [
                    Poller(self.options.sampling_period_s,
                           [s.integrator.sample for s in self._state.sources if s.integrator],
                           "greenprune-perun-power"),
                    Poller(self.options.wrap_check_s,
                           [s.counter.update for s in self._state.sources if s.counter],
                           "greenprune-perun-counters"),
                ]
        if self._state is None:
            raise RuntimeError(f"perun meter unavailable: {self._why_not}")
        return self._state

    def available(self) -> tuple[bool, str]:
        try:
            state = self.prepare()
        except RuntimeError:
            return False, str(self._why_not)
        found = ", ".join(state.backends) or "none"
        if not state.sources:
            return True, (f"perun {state.version}: available, but no energy sensor: {found} only "
                          f"(started in {state.startup_s:.1f} s)")
        sensors = ", ".join(f"{s.covers} ({s.backend})" for s in state.sources)
        return True, f"perun {state.version}: {sensors} (started in {state.startup_s:.1f} s)"

    @staticmethod
    def _edge(src: _Source) -> float | None:
        try:
            if src.counter is not None:
                return src.counter.update()[0] * src.scale
            assert src.integrator is not None
            return src.integrator.sample()[1]
        except Exception:  # a failed sensor read gives this source no figure for the window
            return None

    def start(self) -> Any:
        state = self.prepare()
        for poller in self._pollers:
            poller.ensure_started()
        return time.perf_counter(), [self._edge(s) for s in state.sources]

    def stop(self, token: Any) -> list[EnergyReading]:
        state = self.prepare()
        t0, firsts = token
        window = time.perf_counter() - t0
        if not state.sources:
            return [EnergyReading(
                meter=self.name, joules=None, method="sampled-power", covers="none", window_s=window,
                note=f"perun found no energy sensor on this machine (backends: {', '.join(state.backends)})",
                details={"perun_version": state.version, "backends": state.backends,
                         "unavailable_backends": state.missing})]
        readings = []
        for src, first in zip(state.sources, firsts, strict=True):
            last = self._edge(src)
            joules = None if first is None or last is None else last - first
            readings.append(EnergyReading(
                meter=self.name, joules=joules, method="counter" if src.counter else "sampled-power",
                covers=src.covers, window_s=window,
                note="" if joules is not None else f"perun sensor {src.sensor} read failed at a window edge",
                details={"perun_version": state.version, "perun_backend": src.backend,
                         "perun_sensor": src.sensor,
                         **({} if src.counter else {"poll_interval_s": self.options.sampling_period_s})}))
        return readings

    def close(self) -> None:
        # perun's backends are process-wide singletons that perun itself may still use: they are
        # left open; only this meter's threads stop.
        for poller in self._pollers:
            poller.close()


@hookimpl
def greenprune_register_meters(register: Any) -> None:
    register(Component(
        name="perun", factory=lambda opts: PerunMeter(opts), options=PerunOptions,
        description="measured where perun finds sensors (RAPL, NVML, ROCm, Grace); none on a bare CPU box",
    ))
