"""The ``nvml`` meter: NVIDIA GPU energy through NVML (``pip install nvidia-ml-py``).

Per visible GPU it uses the best source the GPU has:

* ``nvmlDeviceGetTotalEnergyConsumption`` (Volta and later): a millijoule counter kept by the
  driver. Reading it at both window edges is exact up to the counter's update rate -> ``counter``.
* otherwise ``nvmlDeviceGetPowerUsage`` (milliwatts), polled by a daemon thread faster than the
  sensor refreshes and integrated with the trapezoid rule -> ``sampled-power``.

Nested windows: each polled GPU keeps one running integral (time, cumulative joules). The window
edges take a sample themselves, so a window's token is (start time, cumulative joules then) and its
energy is the difference at stop; no sample history is needed and none grows in long runs.

``gpu:<index>`` is the NVML index. ``CUDA_VISIBLE_DEVICES`` with integer indices (or ``GPU-``
UUIDs) limits the GPUs read; integer indices are taken to be in NVML (PCI) order, which holds for
identical GPUs; set ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` on mixed machines.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, EnergyReading, Meter, hookimpl


class NvmlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Power sensors of pre-Volta GPUs refresh every ~20-100 ms: poll at least that often.
    poll_interval_s: float = Field(0.02, gt=0, le=1.0, description="power polling period (GPUs without "
                                                                   "an energy counter)")


def _watts(pynvml: Any, handle: Any) -> float:
    return float(pynvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0


class PowerIntegrator:
    """Running trapezoid integral of a power read-out (watts). Thread-safe."""

    def __init__(self, read_watts: Callable[[], float]) -> None:
        self._read = read_watts
        self._lock = threading.Lock()
        self._t: float | None = None
        self._p = 0.0
        self.joules = 0.0
        self.samples = 0

    def sample(self) -> tuple[float, float, int]:
        """Take one sample; return (time, cumulative joules, samples so far)."""
        with self._lock:
            before = time.perf_counter()
            p = float(self._read())
            t = (before + time.perf_counter()) / 2  # the read takes time: stamp its middle
            if self._t is not None:
                self.joules += (p + self._p) / 2 * (t - self._t)
            self._t, self._p = t, p
            self.samples += 1
            return t, self.joules, self.samples


class Poller:
    """A daemon thread calling each target every ``period`` seconds until :meth:`close`."""

    def __init__(self, period: float, targets: Sequence[Callable[[], object]], name: str) -> None:
        self.period, self.targets, self.name = period, targets, name
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self._thread is None and self.targets:
            self._halt.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        deadline = time.perf_counter()
        while True:
            # Fixed-rate deadlines, so the time the reads take does not stretch the period.
            deadline += self.period
            if self._halt.wait(max(deadline - time.perf_counter(), 0.0)):
                return
            for target in self.targets:
                # A transient sensor error must not kill the thread: the next sample simply
                # spans a longer trapezoid.
                with contextlib.suppress(Exception):
                    target()
            if time.perf_counter() > deadline + self.period:
                deadline = time.perf_counter()  # fell behind (e.g. suspended): don't burst

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


def visible_indices(count: int, env: str | None, uuids: Callable[[int], str]) -> list[int]:
    """NVML indices that ``CUDA_VISIBLE_DEVICES`` lets CUDA see (CUDA stops at the first bad entry)."""
    if env is None:
        return list(range(count))
    chosen: list[int] = []
    for entry in (e.strip() for e in env.split(",")):
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if not 0 <= index < count:
                break
            chosen.append(index)
        elif entry.startswith("GPU-"):
            found = [i for i in range(count) if uuids(i).startswith(entry)]
            if not found:
                break
            chosen.append(found[0])
        elif entry == "":
            break
        else:  # MIG-...: NVML has no per-instance energy, so whole GPUs are read
            return list(range(count))
    return list(dict.fromkeys(chosen))


def _text(value: Any) -> str:
    # Older pynvml releases return bytes for names and UUIDs.
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Gpu:
    index: int
    handle: Any
    name: str
    integrator: PowerIntegrator | None  # None: has the energy counter


class NvmlUnavailable(Exception):
    pass


class NvmlMeter(Meter):
    name = "nvml"
    measured = True

    def __init__(self, options: NvmlOptions | None = None) -> None:
        self.options = options or NvmlOptions()
        self._nvml: Any = None
        self._gpus: list[_Gpu] | None = None
        self._why_not: str | None = None
        self._poller: Poller | None = None

    def _ensure(self) -> list[_Gpu]:
        if self._gpus is None and self._why_not is None:
            try:
                self._gpus = self._discover()
            except NvmlUnavailable as exc:
                self._why_not = str(exc)
        if self._gpus is None:
            raise NvmlUnavailable(self._why_not)
        return self._gpus

    def _discover(self) -> list[_Gpu]:
        try:
            import pynvml
        except ImportError:
            raise NvmlUnavailable("pynvml is not installed (pip install nvidia-ml-py)") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(f"NVML could not start ({exc}); no NVIDIA driver here?") from None
        self._nvml = pynvml
        count = pynvml.nvmlDeviceGetCount()
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = visible_indices(
            count, env, lambda i: _text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))))
        if not indices:
            raise NvmlUnavailable("NVML found no GPU" if count == 0 or env is None
                                  else f"CUDA_VISIBLE_DEVICES={env!r} hides every GPU")
        gpus = []
        for i in indices:
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(pynvml.nvmlDeviceGetName(handle))
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                integrator = None
            except pynvml.NVMLError:  # NotSupported before Volta
                integrator = PowerIntegrator(functools.partial(_watts, pynvml, handle))
            gpus.append(_Gpu(i, handle, name, integrator))
        polled = [g.integrator.sample for g in gpus if g.integrator is not None]
        self._poller = Poller(self.options.poll_interval_s, polled, "greenprune-nvml-poll")
        return gpus

    def available(self) -> tuple[bool, str]:
        try:
            gpus = self._ensure()
        except NvmlUnavailable as exc:
            return False, str(exc)
        how = [f"gpu:{g.index} {g.name} ("
               + ("energy counter" if g.integrator is None
                  else f"power polled every {self.options.poll_interval_s:g} s") + ")" for g in gpus]
        return True, "NVML: " + ", ".join(how)

    def _edge(self, gpu: _Gpu) -> tuple[float, float, int] | None:
        try:
            if gpu.integrator is None:
                mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
                return time.perf_counter(), mj / 1000.0, 0
            return gpu.integrator.sample()
        except self._nvml.NVMLError:
            return None

    def start(self) -> Any:
        gpus = self._ensure()
        if self._poller is not None:
            self._poller.ensure_started()
        return time.perf_counter(), {g.index: self._edge(g) for g in gpus}

    def stop(self, token: Any) -> list[EnergyReading]:
        t0, edges = token
        window = time.perf_counter() - t0
        readings = []
        for g in self._ensure():
            first, last = edges.get(g.index), self._edge(g)
            joules = None if first is None or last is None else last[1] - first[1]
            note = "" if joules is not None else "NVML read failed at a window edge"
            details: dict[str, Any]
            if g.integrator is None:
                method, details = "counter", {"source": "nvmlDeviceGetTotalEnergyConsumption"}
            else:
                method = "sampled-power"
                details = {"source": "nvmlDeviceGetPowerUsage",
                           "poll_interval_s": self.options.poll_interval_s,
                           "samples": (last[2] - first[2] + 1) if first and last else 0}
            readings.append(EnergyReading(
                meter=self.name, joules=joules, method=method, covers=f"gpu:{g.index}", window_s=window,
                note=note, details={"gpu_name": g.name, **details}))
        return readings

    def close(self) -> None:
        if self._poller is not None:
            self._poller.close()
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml, self._gpus = None, None


@hookimpl
def greenprune_register_meters(register: Any) -> None:
    register(Component(
        name="nvml", factory=lambda opts: NvmlMeter(opts), options=NvmlOptions,
        description="measured: NVIDIA GPU energy (NVML energy counter, or polled power on older GPUs)",
    ))
