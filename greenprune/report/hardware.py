"""Which hardware each run was measured on, and a note for any table that compares runs measured
on different CPUs, GPUs or thread counts.

Latency, throughput and energy depend on the machine, so a column that mixes machines is only
comparable through within-run ratios (every speed-up is the teacher's latency over the student's,
both from the same run). The note says so beside the table and names each run's hardware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenprune.results import RunResult


def hardware(r: RunResult) -> str:
    """CPU model, cores, torch threads and GPUs of a run, as one short label."""
    env = r.env or {}
    if not env:
        return "not recorded"
    threads = env.get("torch_threads")
    gpus = env.get("gpus") or []
    parts = [str(env.get("cpu") or "CPU not recorded"), f"{env.get('cpu_cores', '?')} cores",
             f"{threads} torch thread{'' if threads == 1 else 's'}" if threads is not None else "threads not recorded",
             f"GPU {', '.join(gpus)}" if gpus else "no GPU"]
    return ", ".join(parts)


def hardware_note(runs: list[RunResult]) -> list[str]:
    """Lines to print beside a table of ``runs``: empty when they all share one machine type; else
    a warning, then each hardware with the runs measured on it."""
    from greenprune.report.facts import run_label

    by: dict[str, list[RunResult]] = {}
    for r in runs:
        by.setdefault(hardware(r), []).append(r)
    if len(by) < 2:
        return []
    lines = [f"These runs were measured on {len(by)} different hardware set-ups (CPU, cores, torch threads, GPU): "
             "latency, throughput and energy per example are comparable only within a run; every speed-up and "
             "saving is a ratio or difference within its own run."]
    lines += [f"{hw}: " + "; ".join(f"{run_label(r, runs)} (run {r.run_key})" for r in mine) for hw, mine in by.items()]
    return lines
