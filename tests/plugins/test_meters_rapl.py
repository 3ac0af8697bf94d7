"""The rapl meter on a fake powercap tree (no hardware, no root needed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from greenprune_builtins.meters.rapl import RaplMeter, RaplOptions, RaplUnavailable

MAX = 1_000_000_000


def zone(path: Path, name: str, energy: int, max_range: int | None = MAX) -> Path:
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy}\n")
    if max_range is not None:
        (path / "max_energy_range_uj").write_text(f"{max_range}\n")
    return path


def set_energy(path: Path, energy: int) -> None:
    # Replace the file whole, so the wrap-check thread never reads a half-written number.
    tmp = path / "energy_uj.tmp"
    tmp.write_text(f"{energy}\n")
    os.replace(tmp, path / "energy_uj")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """Two packages with DRAM (and a core subzone), a psys zone and an MMIO duplicate of package 0."""
    root = tmp_path / "powercap"
    root.mkdir()
    z = {"root": root}
    z["pkg0"] = zone(root / "intel-rapl:0", "package-0", 1_000_000)
    z["dram0"] = zone(z["pkg0"] / "intel-rapl:0:0", "dram", 500_000)
    z["core0"] = zone(z["pkg0"] / "intel-rapl:0:1", "core", 100)
    z["pkg1"] = zone(root / "intel-rapl:1", "package-1", 2_000_000)
    z["dram1"] = zone(z["pkg1"] / "intel-rapl:1:0", "dram", 0)
    z["psys"] = zone(root / "intel-rapl:2", "psys", 7_000_000)
    z["mmio"] = zone(root / "intel-rapl-mmio:0", "package-0", 5)
    return z


def meter(root: Path, wrap_check_s: float = 0) -> RaplMeter:
    return RaplMeter(RaplOptions(root=str(root), wrap_check_s=wrap_check_s))


def test_packages_and_dram_only(tree: dict[str, Path]) -> None:
    m = meter(tree["root"])
    ok, why = m.available()
    assert ok, why
    assert why == "powercap RAPL counters: cpu-package:0, dram:0, cpu-package:1, dram:1"
    token = m.start()
    set_energy(tree["pkg0"], 3_000_000)  # +2 J
    set_energy(tree["dram0"], 750_000)  # +0.25 J
    set_energy(tree["pkg1"], 2_500_000)  # +0.5 J
    for extra in ("psys", "core0", "mmio"):
        set_energy(tree[extra], 900_000_000)  # would double count if read
    readings = {r.covers: r for r in m.stop(token)}
    m.close()
    assert set(readings) == {"cpu-package:0", "dram:0", "cpu-package:1", "dram:1"}
    assert readings["cpu-package:0"].joules == pytest.approx(2.0)
    assert readings["dram:0"].joules == pytest.approx(0.25)
    assert readings["cpu-package:1"].joules == pytest.approx(0.5)
    assert readings["dram:1"].joules == 0
    for r in readings.values():
        assert r.meter == "rapl" and r.method == "counter" and r.window_s > 0 and r.note == ""
    assert readings["dram:1"].details["zone"] == "intel-rapl:1:0"


def test_wraparound_uses_max_energy_range(tree: dict[str, Path]) -> None:
    (tree["pkg0"] / "max_energy_range_uj").write_text("1000000\n")
    set_energy(tree["pkg0"], 900_000)
    m = meter(tree["root"])
    token = m.start()
    set_energy(tree["pkg0"], 100_000)  # wrapped: 100 000 to the top, 100 000 after it
    readings = {r.covers: r for r in m.stop(token)}
    assert readings["cpu-package:0"].joules == pytest.approx(0.2)
    assert readings["cpu-package:0"].details["wraps"] == 1


def test_repeated_wraps_in_a_long_window_are_caught_by_the_check_thread(tree: dict[str, Path]) -> None:
    (tree["pkg0"] / "max_energy_range_uj").write_text("1000000\n")
    set_energy(tree["pkg0"], 900_000)
    m = meter(tree["root"], wrap_check_s=0.02)
    token = m.start()
    for value in (100_000, 950_000, 200_000):  # +200 000, +850 000, +250 000 µJ: two wraps
        set_energy(tree["pkg0"], value)
        time.sleep(0.2)
    readings = {r.covers: r for r in m.stop(token)}
    m.close()
    assert readings["cpu-package:0"].joules == pytest.approx(1.3)
    assert readings["cpu-package:0"].details["wraps"] == 2


def test_nested_windows(tree: dict[str, Path]) -> None:
    m = meter(tree["root"])
    outer = m.start()
    set_energy(tree["pkg0"], 2_000_000)
    inner = m.start()
    set_energy(tree["pkg0"], 2_500_000)
    inner_r = {r.covers: r.joules for r in m.stop(inner)}
    set_energy(tree["pkg0"], 4_000_000)
    outer_r = {r.covers: r.joules for r in m.stop(outer)}
    assert inner_r["cpu-package:0"] == pytest.approx(0.5)
    assert outer_r["cpu-package:0"] == pytest.approx(3.0)


def test_unknown_range_wrap_gives_no_figure(tree: dict[str, Path]) -> None:
    (tree["pkg1"] / "max_energy_range_uj").unlink()
    m = meter(tree["root"])
    token = m.start()
    set_energy(tree["pkg1"], 10)
    readings = {r.covers: r for r in m.stop(token)}
    assert readings["cpu-package:1"].joules is None
    assert "max_energy_range_uj is unknown" in readings["cpu-package:1"].note


def test_permission_denied_is_unavailable_with_the_fix(
        tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where mode 000 does not stop a read: simulate the kernel's refusal.
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    m = meter(tree["root"])
    ok, why = m.available()
    assert not ok
    assert "energy_uj not readable (permission denied)" in why
    assert "sudo chmod o+r" in why and "run as root" in why
    with pytest.raises(RaplUnavailable):
        m.start()


def test_no_powercap_and_no_packages(tmp_path: Path) -> None:
    ok, why = meter(tmp_path / "absent").available()
    assert not ok and "no powercap interface" in why
    zone(tmp_path / "intel-rapl:0", "psys", 1)
    ok, why = meter(tmp_path).available()
    assert not ok and "no RAPL package zones" in why


def test_amd_rapl_prefix(tmp_path: Path) -> None:
    pkg = zone(tmp_path / "amd-rapl:0", "package-0", 10)
    m = meter(tmp_path)
    token = m.start()
    set_energy(pkg, 1_000_010)
    (reading,) = m.stop(token)
    assert reading.covers == "cpu-package:0" and reading.joules == pytest.approx(1.0)
