"""The built-in "overview" report section: per teacher and task, the data source, runs,
environment and every energy method used (with what each method label means)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from greenprune.api import MISSING, Doc, Fmt, ReportInput
from greenprune.api import report_facts as facts
from greenprune_builtins.report_common import group_heading, no_runs

if TYPE_CHECKING:
    from greenprune.api import EnergyReading, RunResult

#: What each energy method label means; shown wherever energy appears so no reader mistakes an
#: estimate for a measurement.
METHODS = {
    "counter": "measured: a hardware energy counter read at the start and end of the window",
    "sampled-power": "measured: power sampled during the window and integrated over time",
    "estimate": "ESTIMATE, not a measurement: computed from a model of power draw; compare with care",
}


class Overview:
    title = "Overview"

    def render(self, report: ReportInput, fmt: Fmt) -> str:
        doc, results = Doc(fmt), report.results
        if not results:
            return no_runs(doc)
        readings = [e for r in results for e in _all_readings(r)]
        if any(e.method == "estimate" for e in readings):
            doc.para("Some energy figures below are ESTIMATES, not measurements; they are marked "
                     "with ≈ and the method label \"estimate\".")
        for key, runs in facts.grouped(results).items():
            doc.heading(group_heading(key, runs))
            doc.bullets(self._task_facts(runs))
            env_rows = _env_rows(runs)
            if env_rows:
                doc.para("Environment:")
                doc.bullets(f"{k}: {v}" for k, v in env_rows)
            doc.para("Energy methods used:")
            method_rows = _method_rows([e for r in runs for e in _all_readings(r)])
            if method_rows:
                doc.table(["Meter", "Method", "Covers", "Readings", "Meaning", "Notes"], method_rows)
            else:
                doc.para("No energy readings were recorded.", note=True)
        return doc.render()

    @staticmethod
    def _task_facts(runs: list[RunResult]) -> list[str]:
        tasks = [r.task for r in runs if r.task]
        failed = sum(r.status == "failed" for r in runs)
        items = [f"Runs: {len(runs)} ({len(runs) - failed} ok, {failed} failed)"]
        if not tasks:
            return [*items, "Task details: – (no run recorded them)"]
        first = tasks[0]
        sources = list(dict.fromkeys(str(t.get("source", MISSING)) for t in tasks))
        items.insert(0, f"Data source: {'; '.join(sources)}")
        if first.get("kind") or first.get("primary_metric"):
            items.append(f"Task kind: {first.get('kind', MISSING)}; primary metric: "
                         f"{first.get('primary_metric', MISSING)}")
        if any(t.get("synthetic") for t in tasks):
            items.append("Synthetic data: yes (a demo task, not a benchmark result)")
        sizes = list(dict.fromkeys(_compact(t["sizes"]) for t in tasks if t.get("sizes")))
        if sizes:
            items.append(f"Examples: {'; '.join(sizes)}")
        notes: dict[str, None] = {}
        for t in tasks:
            raw = t.get("notes") or []
            notes.update(dict.fromkeys([raw] if isinstance(raw, str) else [str(n) for n in raw]))
        items += [f"Note: {n}" for n in notes]
        return items


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _env_rows(runs: list[RunResult]) -> list[list[str]]:
    """One row per env key; where runs disagree, every value with its run count."""
    keys: dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r.env))
    rows = []
    for k in keys:
        values = Counter(_env_value(r.env.get(k)) for r in runs)
        if len(values) == 1:
            rows.append([k, next(iter(values))])
        else:
            rows.append([k, "; ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in values.items())])
    return rows


def _env_value(v: Any) -> str:
    # Readable, short values: a long JSON blob would make the table scroll sideways in the HTML.
    if v is None:
        return MISSING
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in sorted(v.items()) if x is not None) or MISSING
    if isinstance(v, list):
        return ", ".join(f"{x:.2f}" if isinstance(x, float) else str(x) for x in v) or "none"
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _all_readings(r: RunResult) -> list[EnergyReading]:
    out = [*r.energy_baseline, *(e for p in r.phases for e in p.energy)]
    for rep in (r.teacher, r.student_after_compress, r.student):
        if rep.inference:
            out += rep.inference.energy
    return out


def _method_rows(readings: list[EnergyReading]) -> list[list[str]]:
    by: dict[tuple[str, str], list[EnergyReading]] = {}
    for e in readings:
        by.setdefault((e.meter, e.method), []).append(e)
    rows = []
    for (meter, method), mine in by.items():
        covers = ", ".join(dict.fromkeys(e.covers for e in mine))
        no_sensor = sum(e.joules is None for e in mine)
        count = f"{len(mine)}" + (f" ({no_sensor} without sensor)" if no_sensor else "")
        notes = "; ".join(dict.fromkeys(e.note for e in mine if e.note)) or MISSING
        rows.append([meter, method, covers, count, METHODS.get(method, method), notes])
    return rows
