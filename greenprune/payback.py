"""Energy payback of a student, DERIVED from a result at read time (never stored as a measurement).

Compressing and tuning a student costs energy once; every inference example it then serves
instead of the teacher saves some. For each meter source (``meter:covers``) that measured both:

* ``cost_j``: total joules of the run's ``compress:*`` and ``tune:*`` phases on that source (the
  teacher fine-tune is not counted: the teacher exists either way);
* ``saved_per_example_j``: the teacher's median J per inference example minus the student's, from
  the same run's alternated windows; ``saved_low_j`` / ``saved_high_j`` pair the teacher's worst
  window with the student's best and the other way round, so the range covers every window;
* ``examples``: ``cost_j / saved_per_example_j``, the number of inference examples after which
  the compression has paid for itself, with ``examples_low`` / ``examples_high`` from the saving's
  range (``None`` at the high end when the worst windows save nothing).

Every figure keeps the meter's method label (an estimate stays an estimate), and nothing is added
across meters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from greenprune.results import EnergyReading, RunResult

#: the phases whose energy a student costs (compression and tuning, not the teacher's fine-tune)
COST_PHASES = ("compress:", "tune:")


class Payback(BaseModel):
    """One meter source's payback figures for one run (derived; see the module docstring)."""

    source: str = Field(description="meter:covers, as InferenceFigures.energy_per_example keys it")
    method: str = Field(description="the meter's method label(s): counter, sampled-power, estimate")
    cost_j: float | None = Field(description="total J of the compress:* and tune:* phases")
    cost_reused: bool = Field(False, description="a cost phase was served from a cache (its J is loading only)")
    saved_per_example_j: float | None = Field(description="teacher median J/example - student median J/example")
    saved_low_j: float | None = Field(None, description="teacher min window - student max window")
    saved_high_j: float | None = Field(None, description="teacher max window - student min window")
    examples: float | None = Field(None, description="cost_j / saved_per_example_j; None: it never pays back")
    examples_low: float | None = Field(None, description="cost_j / saved_high_j (the best windows)")
    examples_high: float | None = Field(None, description="cost_j / saved_low_j; None when that saves nothing")


def _cost(r: RunResult, meter: str, covers: str) -> tuple[float | None, bool, str]:
    """Summed J of the cost phases on one source (None if any lacks a figure), whether any was a
    cache hit, and the methods seen."""
    mine: list[EnergyReading] = []
    reused = False
    for p in r.phases:
        if p.name.startswith(COST_PHASES):
            reused = reused or p.cache_hit
            mine += [e for e in p.energy if e.meter == meter and e.covers == covers]
    if not mine or any(e.joules is None for e in mine):
        return None, reused, ""
    return sum(e.joules for e in mine if e.joules is not None), reused, "/".join(dict.fromkeys(e.method for e in mine))


def _ratio(cost: float | None, saved: float | None) -> float | None:
    return None if cost is None or saved is None or saved <= 0 else cost / saved


def payback(r: RunResult) -> list[Payback]:
    """Per meter source measured for both teacher and student in ``r``; empty for a failed run or
    one without inference energy."""
    if r.status != "ok" or r.teacher.inference is None or r.student.inference is None:
        return []
    teacher, student = r.teacher.inference.energy_per_example, r.student.inference.energy_per_example
    out = []
    for source, t in teacher.items():
        s = student.get(source)
        if s is None or t.median_j is None or s.median_j is None:
            continue
        meter, _, covers = source.partition(":")
        cost, reused, methods = _cost(r, meter, covers)
        saved = t.median_j - s.median_j
        low = None if t.min_j is None or s.max_j is None else t.min_j - s.max_j
        high = None if t.max_j is None or s.min_j is None else t.max_j - s.min_j
        method = "/".join(dict.fromkeys(m for m in (t.method, s.method, *methods.split("/")) if m))
        out.append(Payback(source=source, method=method, cost_j=cost, cost_reused=reused,
                           saved_per_example_j=saved, saved_low_j=low, saved_high_j=high,
                           examples=_ratio(cost, saved), examples_low=_ratio(cost, high),
                           examples_high=_ratio(cost, low)))
    return out


def payback_text(pb: Payback) -> str:
    """One payback figure in words, with its range: the headline, the card and the report share it."""
    from greenprune.report import markup

    if pb.saved_per_example_j is None or pb.saved_per_example_j <= 0:
        return "never: the student saves no energy per example in this run"
    if pb.examples is None:
        return f"saves {markup.joules(pb.saved_per_example_j, pb.method)} per example; compression energy not recorded"
    low = markup.MISSING if pb.examples_low is None else f"{pb.examples_low:,.0f}"
    high = "never" if pb.examples_high is None else f"{pb.examples_high:,.0f}"
    cost, saved = markup.joules(pb.cost_j, pb.method), markup.joules(pb.saved_per_example_j, pb.method)
    return (f"after {pb.examples:,.0f} inference examples [{low}–{high}] (compression and tuning {cost}, "
            f"saving {saved} per example)")
