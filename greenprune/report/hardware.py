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


def hardware_note(runs: list[RunResult], label: dict[str, str] | None = None) -> list[str]:
    """Lines to print beside a table of ``runs``: empty when they all share one machine type; else
    a warning and each hardware with the runs measured on it (``label``: run key -> name)."""
    by: dict[str, list[str]] = {}
    for r in runs:
        name = (label or {}).get(r.run_key, r.run_key)
        by.setdefault(hardware(r), []).append(name)
    if len(by) < 2:
        return []
    lines = [f"These runs were measured on {len(by)} different hardware set-ups (CPU, cores, torch threads, GPU): "
             "latency, throughput and energy per example are comparable only within a run; every speed-up and "
             "saving is a ratio or difference within its own run."]
    lines += [f"{hw}: {'; '.join(names)}" for hw, names in by.items()]
    return lines
