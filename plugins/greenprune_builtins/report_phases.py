"""The built-in "phases" report section: wall time and every energy reading of each phase, with
the idle baseline, total / baseline / dynamic joules, and CO2 / cost columns when configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenprune.api import MISSING, Doc, Fmt, ReportInput
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_
from greenprune_builtins.report_common import group_heading, no_runs, run_heading

if TYPE_CHECKING:
    from greenprune.api import RunResult


class Phases:
    title = "Phases: time and energy"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc, results = Doc(fmt), report.results
        if not results:
            return no_runs(doc)
        for key, runs in facts.grouped(results).items():
            doc.heading(group_heading(key, runs))
            for r in runs:
                doc.heading(run_heading(r, runs) + (" — FAILED" if r.status == "failed" else ""), level=4)
                doc.para(_baseline_line(r))
                sources = _meter_sources(r)
                if sources:
                    doc.para(sources)
                co2, price, currency = facts.energy_factors(r)
                headers = ["Phase", "Wall (s)", "Reused", "Meter", "Covers", "Method", "Total (J)", "Baseline (J)",
                           "Dynamic (J)", "Window (s)", "Note"]
                # Derived columns only where the run configured a factor: never a made-up one.
                if co2 is not None:
                    headers.append(f"CO2e (g, total at {co2:g} g/kWh)")
                if price is not None:
                    headers.append(f"Cost ({currency}, total at {price:g} {currency}/kWh)")
                several = facts.several_processes(r)
                rows = [row for p in r.phases for row in _phase_rows(p, co2, price, several)]
                if rows:
                    rows += _total_rows(r, co2, price)
                    doc.table(headers, rows)
                else:
                    doc.para("No phases recorded.", note=True)
        factors = [facts.energy_factors(r) for r in results]
        derived = ("CO2e and cost are derived from Total with the factors named in their headers; they are "
                   "not measurements. " if any(c is not None or p is not None for c, p, _ in factors) else "")
        doc.para("Reused phases were loaded from the cache: their wall time and energy are for loading, "
                 "not for the original work. Total = what the meter read over the phase. Baseline = the "
                 "same meter's idle power (measured once per run, before the first phase) × the phase's "
                 "window; Dynamic = Total − Baseline, what the work added (it can dip below 0 for "
                 "near-idle phases: noise). The all-phases rows add the phases of one meter and sensor "
                 "kind (gpu:0 + gpu:1; in a run of several processes each process's own sensor, while a "
                 "machine's sensors were kept once per machine), never meters to each other. " + derived
                 + "\"no sensor\": the meter found nothing to read (see the note); ≈ marks estimates.", note=True)
        return doc.render()


def _optional_joules(v: float | None, method: str) -> str:
    # A missing baseline is "–" (not measured), unlike a missing total ("no sensor").
    return MISSING if v is None else fmt_.joules(v, method)


def _derived(total_j: float | None, co2: float | None, price: float | None) -> list[str]:
    cells = []
    if co2 is not None:
        g = facts.co2_grams(total_j, co2)
        cells.append(MISSING if g is None else fmt_.sig3(g))
    if price is not None:
        c = facts.cost(total_j, price)
        cells.append(MISSING if c is None else fmt_.sig3(c))
    return cells


def _meter_sources(r: RunResult) -> str | None:
    """Which plugin at which version measured each meter's figures (results that recorded it)."""
    meters = dict.fromkeys(e.meter for p in r.phases for e in p.energy)
    named = [(m, facts.meter_source(r, m)) for m in meters]
    parts = [f"{m} by {src}" for m, src in named if src]
    return "Measured by: " + "; ".join(parts) + "." if parts else None


def _baseline_line(r: RunResult) -> str:
    idle = facts.idle_watts(r)
    if not idle:
        return ("Idle baseline: none measured (energy.idle_baseline_s = 0, or a result from before "
                "baselines), so Baseline and Dynamic show –.")
    window = max(e.window_s for e, _ in idle)
    several = facts.several_processes(r)
    parts = []
    for e, watts in idle:
        prefix = "≈" if e.method == "estimate" else ""
        power = "no sensor" if watts is None else f"{prefix}{fmt_.sig3(watts)} W"
        parts.append(f"{e.meter} {facts.covers_label(e, several)}: {power} ({e.method})")
    return f"Idle baseline power (one {fmt_.sig3(window)} s idle window before the first phase): " + "; ".join(parts)


def _phase_rows(p: Any, co2: float | None = None, price: float | None = None,
                several: bool = False) -> list[list[str]]:
    head = [p.name, fmt_.sig3(p.wall_s), "reused (cache)" if p.cache_hit else ""]
    if not p.energy:
        return [[*head, *[MISSING] * 7, "", *_derived(None, co2, price)]]
    rows = []
    for i, e in enumerate(p.energy):
        # Repeat nothing on continuation rows: one phase, several meters or devices.
        lead = head if i == 0 else ["", "", ""]
        rows.append([*lead, e.meter, facts.covers_label(e, several), e.method, fmt_.joules(e.joules, e.method),
                     _optional_joules(e.baseline_j, e.method), _optional_joules(e.dynamic_j, e.method),
                     fmt_.sig3(e.window_s), e.note, *_derived(e.joules, co2, price)])
    return rows


def _total_rows(r: RunResult, co2: float | None, price: float | None) -> list[list[str]]:
    wall = sum(p.wall_s for p in r.phases)
    rows = []
    for i, (meter, covers, method, total, base, dyn) in enumerate(facts.phase_totals(r)):
        lead = ["all phases", fmt_.sig3(wall), ""] if i == 0 else ["", "", ""]
        rows.append([*lead, meter, covers, method, fmt_.joules(total, method), _optional_joules(base, method),
                     _optional_joules(dyn, method), "", "", *_derived(total, co2, price)])
    return rows
