"""Energy readings of a multi-process run (torchrun, accelerate launch) in its one result.

Every process meters its own windows: the phase wrapper runs on every rank, and each reading is
tagged with the host and rank that read it and its sensor's ``scope``
(:class:`~greenprune.results.EnergyReading`). A sensor is either

* ``node``: the whole machine's (a RAPL package or DRAM domain, a GPU read through NVML): every
  process on the host reads the same joules, so a merged window keeps it ONCE per host (the lowest
  rank's reading; the others are named in ``details["also_read_by_ranks"]``), or
* ``process``: this process's own (the CPU-time estimate's ``process-cpu``): every rank's reading
  is kept, and a total adds them up.

After the last phase every rank runs (the student's evaluation), :func:`merge_ranks` gathers every
rank's phase and idle-baseline readings (one collective, reached by every rank at the same point)
and replaces the result's readings with the merged ones, so the main process writes them all. The
phases after it run on the main process only (the inference benchmark, ``inference:runtimes``),
while the others wait for the next run: their readings are the main process's, as in a
one-process run, and no process waits in the gather while the main one benchmarks.

Totals (:func:`totals`) add a meter's readings over phases, ranks and numbered sensors of one kind
(``gpu:0`` + ``gpu:1`` -> ``gpu``), never one meter's figure to another's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from greenprune.results import EnergyReading, PhaseRecord, RunResult


def sensor_kind(covers: str) -> str:
    """The kind of sensor ``covers`` names, without its index: ``gpu:1`` -> ``gpu``,
    ``cpu-package:0`` -> ``cpu-package``; ``process-cpu`` stays."""
    return re.sub(r":\d+$", "", covers)


def sensor_id(r: EnergyReading) -> tuple[str, str, str | None, int | None]:
    """One sensor of one run: meter, covers, host, and the rank for a per-process sensor (each
    process's own)."""
    return r.meter, r.covers, r.host, r.rank if r.scope == "process" else None


def merge(per_rank: Sequence[Sequence[EnergyReading]]) -> list[EnergyReading]:
    """One window's readings from every rank (in rank order) as one list: every process-scope
    reading, and each node-scope sensor once per host (the first rank's). Readings without a
    scope (written before scopes existed) count as node-wide: a sensor is never counted twice."""
    out: list[EnergyReading] = []
    first: dict[tuple[str, str, str | None], EnergyReading] = {}
    for readings in per_rank:
        for r in readings:
            key = (r.meter, r.covers, r.host)
            kept = first.get(key)
            if r.scope == "process" or kept is None or kept.rank == r.rank:
                first.setdefault(key, r)
                out.append(r)
                continue
            also = [*kept.details.get("also_read_by_ranks", []), r.rank]
            kept.details = {**kept.details, "also_read_by_ranks": also}
    return out


def _dump(readings: Iterable[EnergyReading]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in readings]


def _load(dumped: list[dict[str, Any]]) -> list[EnergyReading]:
    return [EnergyReading.model_validate(d) for d in dumped]


def merge_ranks(result: RunResult) -> None:
    """Put every rank's phase and idle-baseline readings, merged, into ``result`` (on every rank).

    A collective: every process must call it at the same point, so call it only where every rank
    is (the end of a run whose phases all completed; a rank that failed may have left the others
    inside a training step). A no-op in one process."""
    from greenprune.distributed import gather, where, world_size

    if world_size() == 1:
        return
    mine = {"where": where(), "baseline": _dump(result.energy_baseline),
            "phases": [(p.name, _dump(p.energy)) for p in result.phases]}
    every = gather(mine)
    result.energy_baseline = merge([_load(e["baseline"]) for e in every])
    # Phases are matched by name and occurrence: a phase that ran only on the main process (the
    # runtime matrix) has no counterpart elsewhere, and keeps the main process's readings.
    by_rank = [_by_name(e["phases"]) for e in every]
    for key, record in _by_name([(p.name, p) for p in result.phases]).items():
        record.energy = merge([_load(phases.pop(key)) if key in phases else [] for phases in by_rank])
    for rank, phases in enumerate(by_rank):
        for (name, _), dumped in phases.items():  # a phase the main process did not record
            result.phases.append(PhaseRecord(name=name, energy=_load(dumped), details={"only_on_rank": rank}))
    result.extra["processes"] = [e["where"] for e in every]


def _by_name(named: list[tuple[str, Any]]) -> dict[tuple[str, int], Any]:
    """``(name, occurrence)`` -> value, for a list of named items (a phase may repeat)."""
    seen: dict[str, int] = {}
    out = {}
    for name, value in named:
        seen[name] = seen.get(name, 0) + 1
        out[(name, seen[name])] = value
    return out


def sensors_label(readings: Sequence[EnergyReading]) -> str:
    """What a total covers: the sensor as before when it is one sensor of one process, else its
    kind with the sensors and ranks summed (``gpu (gpu:0, gpu:1)``, ``process-cpu (ranks 0, 1)``)."""
    covers = list(dict.fromkeys(r.covers for r in readings))
    ranks = sorted({r.rank for r in readings if r.scope == "process" and r.rank is not None})
    hosts = list(dict.fromkeys(r.host for r in readings if r.host))
    parts = [", ".join(covers)] if len(covers) > 1 else []
    if len(ranks) > 1:
        parts.append("ranks " + ", ".join(map(str, ranks)))
    if len(hosts) > 1:
        parts.append(f"{len(hosts)} hosts")
    kind = sensor_kind(covers[0]) if covers else ""
    return f"{kind} ({'; '.join(parts)})" if parts else (covers[0] if covers else "")


def reading_label(reading: EnergyReading, several: bool) -> str:
    """``covers``, with the rank that read a per-process sensor when the run had ``several`` processes."""
    if several and reading.scope == "process" and reading.rank is not None:
        return f"{reading.covers} (rank {reading.rank})"
    return reading.covers


def several_processes(readings: Iterable[EnergyReading]) -> bool:
    return len({(r.host, r.rank) for r in readings if r.rank is not None}) > 1


def totals(readings: Iterable[EnergyReading]) -> list[tuple[str, str, list[EnergyReading]]]:
    """The readings grouped per (meter, sensor kind): ``(meter, label, readings)`` in first-seen
    order, ``label`` from :func:`sensors_label`. Never groups two meters together."""
    by: dict[tuple[str, str], list[EnergyReading]] = {}
    for r in readings:
        by.setdefault((r.meter, sensor_kind(r.covers)), []).append(r)
    return [(meter, sensors_label(mine), mine) for (meter, _), mine in by.items()]
