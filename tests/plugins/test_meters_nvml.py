"""The nvml meter against a fake ``pynvml`` module (no GPU, no driver needed)."""

from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass, field

import pytest
from greenprune_builtins.meters.nvml import NvmlMeter, NvmlOptions, PowerIntegrator, visible_indices


class FakeNVMLError(Exception):
    pass


@dataclass
class FakeGpu:
    name: str = "Fake GPU"
    energy_mj: int | None = 1_000  # None: no energy counter (pre-Volta)
    power_mw: int = 100_000
    uuid: str = "GPU-0000"


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: str | None = None
    inits: int = 0
    shutdowns: int = 0
    power_reads: int = 0

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("pynvml")
        mod.NVMLError = FakeNVMLError  # type: ignore[attr-defined]

        def init() -> None:
            if self.init_error:
                raise FakeNVMLError(self.init_error)
            self.inits += 1

        def shutdown() -> None:
            self.shutdowns += 1

        def energy(handle: FakeGpu) -> int:
            if handle.energy_mj is None:
                raise FakeNVMLError("Not Supported")
            return handle.energy_mj

        def power(handle: FakeGpu) -> int:
            self.power_reads += 1
            return handle.power_mw

        mod.nvmlInit = init  # type: ignore[attr-defined]
        mod.nvmlShutdown = shutdown  # type: ignore[attr-defined]
        mod.nvmlDeviceGetCount = lambda: len(self.gpus)  # type: ignore[attr-defined]
        mod.nvmlDeviceGetHandleByIndex = lambda i: self.gpus[i]  # type: ignore[attr-defined]
        mod.nvmlDeviceGetName = lambda h: h.name.encode()  # type: ignore[attr-defined]  # old pynvml: bytes
        mod.nvmlDeviceGetUUID = lambda h: h.uuid  # type: ignore[attr-defined]
        mod.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
        mod.nvmlDeviceGetPowerUsage = power  # type: ignore[attr-defined]
        return mod


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    nv = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nv.module())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return nv


def test_energy_counter_path(fake: FakeNvml) -> None:
    fake.gpus = [FakeGpu(name="H100", energy_mj=5_000)]
    m = NvmlMeter()
    ok, why = m.available()
    assert ok and why == "NVML: gpu:0 H100 (energy counter)"
    token = m.start()
    fake.gpus[0].energy_mj = 17_500
    (r,) = m.stop(token)
    assert r.joules == pytest.approx(12.5)
    assert (r.meter, r.method, r.covers) == ("nvml", "counter", "gpu:0")
    assert r.details["gpu_name"] == "H100"
    m.close()
    assert fake.shutdowns == 1
    assert fake.power_reads == 0  # counter GPUs are never polled


def test_polling_path_integrates_constant_power(fake: FakeNvml) -> None:
    fake.gpus = [FakeGpu(name="P100", energy_mj=None, power_mw=100_000)]
    m = NvmlMeter(NvmlOptions(poll_interval_s=0.02))
    ok, why = m.available()
    assert ok and "power polled every 0.02 s" in why
    token = m.start()
    time.sleep(0.2)
    (r,) = m.stop(token)
    m.close()
    assert r.method == "sampled-power"
    assert r.joules == pytest.approx(20.0, rel=0.15)
    assert r.joules == pytest.approx(100.0 * r.window_s, rel=0.05)
    assert r.details["poll_interval_s"] == 0.02
    assert r.details["samples"] >= 5
    assert m._poller is not None and m._poller._thread is None  # close() stopped the thread


def test_nested_polled_windows(fake: FakeNvml) -> None:
    fake.gpus = [FakeGpu(energy_mj=None, power_mw=50_000)]
    m = NvmlMeter()
    outer = m.start()
    time.sleep(0.1)
    inner = m.start()
    time.sleep(0.1)
    (ri,) = m.stop(inner)
    time.sleep(0.05)
    (ro,) = m.stop(outer)
    m.close()
    assert ri.joules == pytest.approx(50.0 * ri.window_s, rel=0.05)
    assert ro.joules == pytest.approx(50.0 * ro.window_s, rel=0.05)
    assert ro.joules > ri.joules


def test_two_gpus_two_readings_and_visible_devices(fake: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.gpus = [FakeGpu(energy_mj=0, uuid="GPU-aaaa"),
                 FakeGpu(energy_mj=None, power_mw=200_000, uuid="GPU-bbbb")]
    m = NvmlMeter()
    token = m.start()
    fake.gpus[0].energy_mj = 1_000
    readings = m.stop(token)
    m.close()
    assert [(r.covers, r.method) for r in readings] == [("gpu:0", "counter"), ("gpu:1", "sampled-power")]
    assert readings[0].joules == pytest.approx(1.0)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    m = NvmlMeter()
    readings = m.stop(m.start())
    m.close()
    assert [r.covers for r in readings] == ["gpu:1"]

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ok, why = NvmlMeter().available()
    assert not ok and "hides every GPU" in why


def test_visible_indices() -> None:
    uuids = ["GPU-aaaa-1", "GPU-bbbb-2", "GPU-cccc-3"].__getitem__
    assert visible_indices(3, None, uuids) == [0, 1, 2]
    assert visible_indices(3, "2,0", uuids) == [2, 0]
    assert visible_indices(3, "1,7,2", uuids) == [1]  # CUDA stops at the first bad entry
    assert visible_indices(3, "-1", uuids) == []
    assert visible_indices(3, "GPU-cccc,GPU-aaaa", uuids) == [2, 0]
    assert visible_indices(3, "MIG-1234", uuids) == [0, 1, 2]


def test_no_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    ok, why = NvmlMeter().available()
    assert not ok and "pip install nvidia-ml-py" in why
    with pytest.raises(Exception, match="nvidia-ml-py"):
        NvmlMeter().start()


def test_no_driver_and_no_gpu(fake: FakeNvml) -> None:
    fake.init_error = "Driver Not Loaded"
    ok, why = NvmlMeter().available()
    assert not ok and "Driver Not Loaded" in why
    fake.init_error = None
    ok, why = NvmlMeter().available()
    assert not ok and why == "NVML found no GPU"


def test_torch_is_synchronised_by_the_core_once_per_edge_only_when_already_imported(
        fake: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    from greenprune.metering import metered

    calls: list[str] = []
    cuda = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True,
                                 synchronize=lambda: calls.append("sync"))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    fake.gpus = [FakeGpu()]
    m = NvmlMeter()
    m.stop(m.start())  # the meter alone never synchronises
    assert calls == []
    with metered([m, m]) as window:  # two meters, still one sync per edge
        calls.append("work")
    m.close()
    assert calls == ["sync", "work", "sync"] and len(window.readings) == 2
    monkeypatch.delitem(sys.modules, "torch")
    with metered([m]):
        pass
    assert calls == ["sync", "work", "sync"]


def test_power_integrator_trapezoid() -> None:
    values = iter([0.0, 10.0])
    integ = PowerIntegrator(lambda: next(values))
    t0, j0, n0 = integ.sample()
    time.sleep(0.05)
    t1, j1, n1 = integ.sample()
    assert (j0, n0, n1) == (0.0, 1, 2)
    assert j1 == pytest.approx(5.0 * (t1 - t0))
