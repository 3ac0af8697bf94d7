"""Energy metering: the meter contract, meter selection, the idle baseline, and the wrapper that
meters every phase.

Energy is measured at one choke point: this module wraps ``greenprune_run_phase`` (as pytest's
warnings plugin wraps its test protocol), so no plugin has to remember to meter its work.

The idle baseline is one window of every meter over a sleep, taken once per run before the first
phase. It is kept apart from phase energy: a reading's ``joules`` stays the meter's total, and
:func:`apply_baseline` adds ``baseline_j`` (idle power x window) and ``dynamic_j`` (the rest) next
to it, so a report can show what the work added without ever hiding what the meter read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from greenprune import hookimpl
from greenprune.distributed import where
from greenprune.protocols import Meter
from greenprune.results import EnergyReading

if TYPE_CHECKING:
    from greenprune.components import Catalogue
    from greenprune.context import Phase, RunContext


def select_meters(names: list[str], catalogue: Catalogue, options: dict[str, dict[str, Any]]) -> tuple[
    list[Meter], list[str]
]:
    """Build the meters named (``auto`` = every measured meter available, else the CPU estimate).

    :return: the meters, and one line per decision for the run log (which meter, and why).
    """
    from greenprune.errors import UserError

    chosen: list[Meter] = []
    log: list[str] = []
    for name in names:
        if name == "auto":
            built = [(n, c.build(options.get(n))) for n, c in sorted(catalogue.by_kind["meter"].items())
                     if n != "cpu-estimate"]
            # Meters without overlaps first, so a meter that re-reads their sensors comes last.
            for comp_name, meter in sorted(built, key=lambda nm: bool(nm[1].overlaps)):
                ok, why = meter.available()
                overlap = [m.name for m in chosen if m.name in meter.overlaps]
                # A meter's own label is not enough: its readings over a short probe window must
                # be measured figures too (a meter declared measured whose sensor turned out to be
                # an estimate was picked, and shown as measured, before this check).
                not_measured = (None if not ok or overlap else
                                "it declares itself an estimate" if not meter.measured else probe(meter))
                if ok and overlap:
                    log.append(f"auto: skipping {comp_name} (it re-reads the sensors of {', '.join(overlap)})")
                elif ok and not_measured is None:
                    chosen.append(meter)
                    log.append(f"auto: using {comp_name} ({why})")
                else:
                    log.append(f"auto: skipping {comp_name} ({not_measured or why})")
                if meter not in chosen:
                    meter.close()
            if not chosen:
                comp = catalogue.get("meter", "cpu-estimate")
                chosen.append(comp.build(options.get("cpu-estimate")))
                log.append("auto: no measured meter on this machine; using cpu-estimate (an estimate)")
            continue
        comp = catalogue.get("meter", name)
        meter = comp.build(options.get(name))
        ok, why = meter.available()
        if not ok:
            raise UserError(f"meter {name!r} is not available here: {why}. Try --meter auto")
        chosen.append(meter)
        log.append(f"using {name} ({why})")
    return chosen, log


def sync_cuda() -> None:
    """Wait for queued GPU work, so it is charged to the window that launched it. Only when torch
    is already imported and has set CUDA up: metering never pulls torch in itself."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except Exception:  # a CUDA error belongs to the work, which raises it itself
        pass


@dataclass
class Window:
    """One metered window: filled in when its ``with metered(...)`` block ends."""

    #: every meter's readings, ``window_s`` set (the block's wall time where a meter left it 0)
    readings: list[EnergyReading] = field(default_factory=list)
    seconds: float = 0.0


@contextmanager
def metered(meters: Sequence[Meter]) -> Iterator[Window]:
    """The one way greenprune meters work (phases, inference windows, the idle baseline): start
    every meter, run the block, stop them in reverse order. CUDA is synchronised at both edges,
    here and only here, so no meter has to. Readings are collected also when the block raises."""
    window = Window()
    sync_cuda()
    started = [(m, m.start()) for m in meters]
    t0 = time.perf_counter()
    try:
        yield window
    finally:
        sync_cuda()
        window.seconds = time.perf_counter() - t0
        origin = where()
        for meter, token in reversed(started):
            for reading in meter.stop(token):
                reading = _honest(meter, reading)
                # Where it was read, so a multi-process run's readings can be merged (a node sensor
                # once per host, a process sensor once per rank); a meter that does not say which
                # its sensor is counts as node-wide: never counted twice.
                reading.scope = reading.scope or "node"
                reading.host, reading.rank = origin["host"], origin["rank"]
                if not reading.window_s:
                    reading.window_s = window.seconds
                window.readings.append(reading)


#: seconds of the window ``--meter auto`` probes each candidate with
PROBE_S = 0.05


def probe(meter: Meter) -> str | None:
    """Why ``meter``'s readings are not measurements here (a short window read no figure, or its
    readings are labelled estimate), or ``None`` when they are."""
    with metered([meter]) as window:
        time.sleep(PROBE_S)
    if not window.readings or all(r.joules is None for r in window.readings):
        return f"a {PROBE_S:g} s probe window read no figure"
    if any(r.method == "estimate" for r in window.readings):
        return "its probe readings are labelled estimate although it declares itself measured"
    return None


def _honest(meter: Meter, reading: EnergyReading) -> EnergyReading:
    """Enforce the labels: the method is one of the three (re-validated, since a plugin may have
    built or changed the reading unchecked), and a meter that declares itself an estimate
    (``measured = False``) never yields a reading labelled measured."""
    checked = EnergyReading.model_validate(reading.model_dump())
    if not meter.measured and checked.method != "estimate":
        checked.details = {**checked.details, "declared_method": checked.method}
        checked.method = "estimate"
        checked.note = (checked.note + "; " if checked.note else "") + (
            f"labelled estimate: meter {meter.name!r} declares measured=False")
    return checked


def measure_baseline(meters: list[Meter], seconds: float) -> list[EnergyReading]:
    """Every meter over one idle window of ``seconds`` (a sleep): the run's idle baseline."""
    if seconds <= 0 or not meters:
        return []
    with metered(meters) as window:
        time.sleep(seconds)
    for reading in window.readings:
        reading.details = {**reading.details, "idle_baseline": True}
    return window.readings


def idle_power_each(baseline: list[EnergyReading]) -> list[float | None]:
    """Each baseline reading's idle watts (``None`` where the meter had no figure)."""
    return [r.joules / r.window_s if r.joules is not None and r.window_s > 0 else None for r in baseline]


def idle_power(baseline: list[EnergyReading]) -> dict[tuple[str, str], float | None]:
    """(meter, covers) -> idle watts (``None`` where the meter had no figure) of one process's baseline."""
    return {(r.meter, r.covers): w for r, w in zip(baseline, idle_power_each(baseline), strict=True)}


def apply_baseline(readings: list[EnergyReading], baseline: list[EnergyReading]) -> None:
    """Set ``baseline_j`` and ``dynamic_j`` on each reading from the same meter's idle power over
    the same sensor; ``joules`` is left as the meter's total. Readings without a matching idle
    figure keep both fields ``None``."""
    from greenprune.energy_ranks import sensor_id

    # Per sensor, not per (meter, covers): a multi-process run's merged baseline holds every
    # rank's process-cpu, and each rank's readings take their own process's idle power. A reading
    # not tagged by `metered` (built by hand) takes its (meter, covers)'s when that is one sensor.
    watts = {sensor_id(r): w for r, w in zip(baseline, idle_power_each(baseline), strict=True)}
    loose: dict[tuple[str, str], list[float | None]] = {}
    for (meter, covers, *_), w in watts.items():
        loose.setdefault((meter, covers), []).append(w)
    for r in readings:
        same = loose.get((r.meter, r.covers), [])
        p = watts.get(sensor_id(r), same[0] if len(same) == 1 else None)
        if p is None or r.joules is None:
            r.baseline_j = r.dynamic_j = None
            continue
        r.baseline_j = p * r.window_s
        r.dynamic_j = r.joules - r.baseline_j


@hookimpl(wrapper=True)
def greenprune_run_phase(ctx: RunContext, phase: Phase) -> Any:
    window: Window | None = None
    try:
        with metered(ctx.meters) as window:
            return (yield)
    finally:
        if window is not None:
            phase.record.energy.extend(window.readings)
