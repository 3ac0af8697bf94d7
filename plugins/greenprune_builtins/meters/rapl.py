"""The ``rapl`` meter: CPU package and DRAM energy counters of Linux powercap (RAPL).

Domains read: every top-level ``intel-rapl:N`` (or ``amd-rapl:N``) zone named ``package-*`` and
its ``dram`` subzone. Deliberately NOT read, because they would count the same joules twice:
``psys`` (the whole SoC, which contains the packages), ``core``/``uncore`` subzones (parts of a
package) and ``intel-rapl-mmio:*`` (a second interface to the same package counter). AMD CPUs
(Zen and later) show up under ``intel-rapl`` on Linux, as the same driver serves them.

``energy_uj`` is a wrapping counter: it restarts at 0 after ``max_energy_range_uj`` (about
262 kJ on many CPUs: a quarter of an hour at 250 W). One wrap inside a window is undone from the
range; to survive several wraps in a long window a daemon thread also reads the counters every
``wrap_check_s`` and keeps a monotonic total per domain. A window's token is that total at start.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, EnergyReading, Meter, hookimpl

_ZONE = re.compile(r"^(?:intel-rapl|amd-rapl):(\d+)$")
_SUBZONE = re.compile(r"^(?:intel-rapl|amd-rapl):\d+:\d+$")


class RaplOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: str = Field("/sys/class/powercap", description="powercap sysfs folder (tests point it elsewhere)")
    wrap_check_s: float = Field(
        30.0, ge=0, description="read counters this often to catch repeated wraparounds in long windows; "
                                "0 = at window edges only")


class WrappingCounter:
    """A monotonic total over a raw counter that wraps at ``max_range``. Thread-safe: the window
    edges and the wrap-check thread both call :meth:`update`."""

    def __init__(self, read: Callable[[], int], max_range: int | None) -> None:
        self._read, self.max_range = read, max_range
        self._lock = threading.Lock()
        self._last = read()
        self.total = 0
        self.wraps = 0
        #: wraps whose size is unknown (no max range): a window spanning one has no figure
        self.unknown_wraps = 0

    def update(self) -> tuple[int, int, int]:
        """Read the counter; return (monotonic total, wraps, unknown wraps) so far."""
        with self._lock:
            raw = self._read()
            if raw >= self._last:
                self.total += raw - self._last
            elif self.max_range:
                self.total += self.max_range - self._last + raw
                self.wraps += 1
            else:
                self.total += raw
                self.unknown_wraps += 1
            self._last = raw
            return self.total, self.wraps, self.unknown_wraps


@dataclass
class _Domain:
    covers: str  # cpu-package:0, dram:0
    zone: Path
    counter: WrappingCounter


class RaplUnavailable(Exception):
    """Why this machine's RAPL counters cannot be used."""


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _hint(root: Path) -> str:
    return (f"run as root or `sudo chmod o+r {root}/intel-rapl:*/energy_uj "
            f"{root}/intel-rapl:*/intel-rapl:*:*/energy_uj`")


def _counter(zone: Path, root: Path) -> WrappingCounter:
    energy = zone / "energy_uj"
    try:
        try:
            max_range: int | None = _read_int(zone / "max_energy_range_uj")
        except (OSError, ValueError):
            max_range = None
        return WrappingCounter(lambda: _read_int(energy), max_range)
    except PermissionError:
        # Since Linux 5.10 (CVE-2020-8694) energy_uj is readable by root only.
        raise RaplUnavailable(f"{energy} not readable (permission denied); {_hint(root)}") from None
    except (OSError, ValueError) as exc:
        raise RaplUnavailable(f"{energy} not readable ({exc})") from None


def discover(root: Path) -> list[_Domain]:
    """Package zones and their DRAM subzones under ``root``; raises :class:`RaplUnavailable`."""
    if not root.is_dir():
        raise RaplUnavailable(f"no powercap interface at {root} (not Linux, or no RAPL driver loaded)")
    domains: list[_Domain] = []
    seen: set[Path] = set()
    for zone in sorted(root.iterdir()):
        match = _ZONE.match(zone.name)
        if not match or zone.resolve() in seen:
            continue
        seen.add(zone.resolve())
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            continue
        if not name.startswith("package"):
            continue  # psys (and anything else top-level) would double count the packages
        socket = name.split("-", 1)[1] if "-" in name else match.group(1)
        domains.append(_Domain(f"cpu-package:{socket}", zone, _counter(zone, root)))
        for sub in sorted(zone.iterdir()):
            if not _SUBZONE.match(sub.name):
                continue
            try:
                sub_name = (sub / "name").read_text().strip()
            except OSError:
                continue
            if sub_name == "dram":  # core/uncore are inside the package figure already
                domains.append(_Domain(f"dram:{socket}", sub, _counter(sub, root)))
    if not domains:
        raise RaplUnavailable(f"no RAPL package zones under {root}")
    return domains


class RaplMeter(Meter):
    name = "rapl"
    measured = True

    def __init__(self, options: RaplOptions | None = None) -> None:
        self.options = options or RaplOptions()
        self._domains: list[_Domain] | None = None
        self._why_not: str | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure(self) -> list[_Domain]:
        if self._domains is None and self._why_not is None:
            try:
                self._domains = discover(Path(self.options.root))
            except RaplUnavailable as exc:
                self._why_not = str(exc)
        if self._domains is None:
            raise RaplUnavailable(self._why_not)
        return self._domains

    def available(self) -> tuple[bool, str]:
        try:
            domains = self._ensure()
        except RaplUnavailable as exc:
            return False, str(exc)
        return True, "powercap RAPL counters: " + ", ".join(d.covers for d in domains)

    def _watch(self, period: float) -> None:
        while not self._halt.wait(period):
            for d in self._domains or []:
                with contextlib.suppress(OSError, ValueError):  # the next update catches up
                    d.counter.update()

    def start(self) -> Any:
        domains = self._ensure()
        if self._thread is None and self.options.wrap_check_s > 0:
            self._halt.clear()
            self._thread = threading.Thread(target=self._watch, args=(self.options.wrap_check_s,),
                                            name="greenprune-rapl-wrap", daemon=True)
            self._thread.start()
        snapshot: dict[str, tuple[int, int, int] | None] = {}
        for d in domains:
            try:
                snapshot[d.covers] = d.counter.update()
            except (OSError, ValueError):
                snapshot[d.covers] = None
        return time.perf_counter(), snapshot

    def stop(self, token: Any) -> list[EnergyReading]:
        t0, snapshot = token
        readings = []
        for d in self._ensure():
            note, joules, wraps = "", None, 0
            try:
                total, wraps, unknown = d.counter.update()
            except (OSError, ValueError) as exc:
                total, unknown, note = 0, 0, f"counter read failed at window end: {exc}"
            start = snapshot.get(d.covers)
            if start is None and not note:
                note = "counter read failed at window start"
            elif start is not None and not note:
                wraps -= start[1]
                if unknown > start[2]:
                    note = "counter wrapped and max_energy_range_uj is unknown; no figure"
                else:
                    joules = (total - start[0]) / 1e6
            readings.append(EnergyReading(
                meter=self.name, joules=joules, method="counter", covers=d.covers,
                window_s=time.perf_counter() - t0, note=note,
                details={"zone": d.zone.name, "wraps": wraps, "max_energy_range_uj": d.counter.max_range},
            ))
        return readings

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


@hookimpl
def greenprune_register_meters(register: Any) -> None:
    register(Component(
        name="rapl", factory=lambda opts: RaplMeter(opts), options=RaplOptions,
        description="measured: CPU package + DRAM energy counters (Linux powercap RAPL; often root only)",
    ))
