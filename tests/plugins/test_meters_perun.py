"""The perun meter: for real on this machine, and with perun's RAPL backend on a fake powercap tree."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from greenprune_builtins.meters import perun_meter
from greenprune_builtins.meters.perun_meter import PerunMeter

pytest.importorskip("perun")


def test_real_perun_on_this_machine() -> None:
    m = PerunMeter()
    ok, why = m.available()  # the slow start-up happens here, outside any window
    assert ok, why
    assert why.startswith("perun ")
    windows = []
    for _ in range(2):
        t0 = time.perf_counter()
        token = m.start()
        t1 = time.perf_counter()
        time.sleep(0.05)
        t2 = time.perf_counter()
        readings = m.stop(token)
        windows.append((t1 - t0) + (time.perf_counter() - t2))
        assert readings
        for r in readings:
            assert r.meter == "perun" and r.window_s >= 0.05
            if m.measured:  # the machine has sensors: every figure is labelled as measured
                assert r.method in ("counter", "sampled-power") and r.covers != "none"
                assert r.joules is not None or r.note
            else:
                assert "no energy sensor" in why
                assert r.joules is None and r.method == "sampled-power" and r.covers == "none"
                assert r.note.startswith("perun found no energy sensor on this machine (backends: ")
    m.close()
    assert max(windows) < 0.05  # per-window overhead: well under a few ms in practice


def test_perun_rapl_backend_on_a_fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cpuinfo
    from perun.backend import powercap_rapl
    from perun.util import Singleton

    # (No psys zone here: perun opens its file and never closes it, a ResourceWarning under -W error.)
    for name, zone, energy in (("package-0", "intel-rapl:0", 1_000_000), ("dram", "intel-rapl:0/intel-rapl:0:0", 100)):
        d = tmp_path / zone
        d.mkdir(parents=True)
        (d / "name").write_text(f"{name}\n")
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text("262143328850\n")
    # A fresh probe, pointed at the fake tree; perun's singletons and our cache restored afterwards.
    monkeypatch.setattr(powercap_rapl, "RAPL_PATH", f"{tmp_path}/")
    monkeypatch.setattr(cpuinfo, "get_cpu_info", lambda: {})
    monkeypatch.setattr(Singleton, "_instances", dict(Singleton._instances))
    monkeypatch.setattr(perun_meter, "_STATE", None)

    m = PerunMeter()
    ok, why = m.available()
    assert ok and "cpu-package:0 (powercap_rapl)" in why and "dram:0 (powercap_rapl)" in why
    assert m.measured
    token = m.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("4000000\n")
    (tmp_path / "intel-rapl:0" / "intel-rapl:0:0" / "energy_uj").write_text("250100\n")
    readings = {r.covers: r for r in m.stop(token) if r.details["perun_backend"] == "powercap_rapl"}
    m.close()
    Singleton._instances[powercap_rapl.PowercapRAPLBackend].close()
    assert set(readings) == {"cpu-package:0", "dram:0"}
    assert readings["cpu-package:0"].joules == pytest.approx(3.0)
    assert readings["dram:0"].joules == pytest.approx(0.25)
    assert all(r.method == "counter" for r in readings.values())


def test_missing_perun_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(perun_meter, "_STATE", None)
    monkeypatch.setitem(sys.modules, "perun", None)
    monkeypatch.setitem(sys.modules, "perun.backend", None)
    ok, why = PerunMeter().available()
    assert not ok and "pip install perun" in why
