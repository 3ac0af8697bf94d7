"""Quantities derived from a ``RunResult`` (deltas, speed-ups, labels, groups).

Tables and figures both read these, so a number is computed in exactly one place. Every function
returns ``None`` when a field it needs is missing: reports show that as "–", never a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenprune.report.types import GroupKey, phase_kind

if TYPE_CHECKING:
    from greenprune.results import EnergyReading, ModelReport, RunResult


def group_key(r: RunResult) -> GroupKey:
    """(teacher, task): runs are only comparable against the same teacher on the same task."""
    return str(r.config.get("teacher", "?")), str(r.config.get("task") or r.task.get("name", "?"))


def grouped(results: list[RunResult]) -> dict[GroupKey, list[RunResult]]:
    """Runs by (teacher, task) in order of first appearance, each group sorted by :func:`order`."""
    out: dict[GroupKey, list[RunResult]] = {}
    for r in results:
        out.setdefault(group_key(r), []).append(r)
    return {k: _sorted_group(v) for k, v in out.items()}


def _sorted_group(group: list[RunResult]) -> list[RunResult]:
    labels = variants(group)
    return sorted(group, key=lambda r: order(r, labels))


def chain(r: RunResult) -> str:
    return "+".join(r.config.get("compressors") or ["?"])


def tuner(r: RunResult) -> str:
    return str(r.config.get("tuner") or "?")


# Config fields that are a comparison's axes (task, sparsity, seed: the x-axis or replicates) or
# how it was measured, never what a variant *is*. Everything else (options, train.*, subsampling)
# names a variant when runs of one group differ in it.
_NOT_A_SETTING = frozenset({"task", "teacher", "sparsity", "seed", "compressors", "tuner", "meters", "data_dir",
                            "cache_dir", "save_student", "inference", "energy"})


def settings(r: RunResult) -> dict[str, str]:
    """The run's explicitly set config values, spelt as ``--set`` takes them (``prune.alpha``,
    ``train.epochs``), values in TOML/JSON spelling (``false``, ``3``)."""
    import json

    from greenprune.config import train_key

    flat: dict[str, str] = {}
    for key, value in r.config.items():
        if key in _NOT_A_SETTING or value is None:
            continue
        if key == "train" and isinstance(value, dict):
            # a setting added later, at the value that trains as runs before it did, is no difference
            value = train_key(value)
        if key == "options" and isinstance(value, dict):  # options.prune.alpha -> prune.alpha
            for plugin, opts in value.items():
                for name, v in (opts or {}).items():
                    flat[f"{plugin}.{name}"] = json.dumps(v)
        elif isinstance(value, dict):
            for name, v in value.items():
                flat[f"{key}.{name}"] = json.dumps(v)
        else:
            flat[key] = json.dumps(value)
    return flat


def differing_settings(group: list[RunResult]) -> dict[str, list[str]]:
    """Per run key, ``key=value`` for each of its settings that not every run of ``group`` shares:
    what tells apart runs with the same chain and tuner (a pruner with and without a loss term, say).
    Computed for the whole group at once, since every label of a group needs the same comparison."""
    every = {x.run_key: settings(x) for x in group}
    keys = {k for s in every.values() for k in s}
    differ = sorted(k for k in keys if len({s.get(k) for s in every.values()}) > 1)
    return {key: [f"{k}={s[k]}" for k in differ if k in s] for key, s in every.items()}


def distinguishing_settings(r: RunResult, group: list[RunResult]) -> list[str]:
    """:func:`differing_settings` of one run."""
    return differing_settings(group).get(r.run_key, [])


def variants(group: list[RunResult]) -> dict[str, str]:
    """Per run key, what the run compares: its compressor chain and tuner, plus the settings in which
    it differs from other runs of its group (one line per variant in figures, one label in tables)."""
    extra = differing_settings(group)
    return {r.run_key: f"{chain(r)} / {tuner(r)}" + (f" ({', '.join(extra[r.run_key])})" if extra[r.run_key] else "")
            for r in group}


def variant(r: RunResult, group: list[RunResult]) -> str:
    """:func:`variants` of one run (callers labelling many runs call ``variants`` once)."""
    return variants(group)[r.run_key]


def run_label(r: RunResult, runs: list[RunResult]) -> str:
    """A short label for one run among ``runs`` (figure legends, frontier tables): its variant, the
    target sparsity, and the seed when the runs have more than one."""
    s = target_sparsity(r)
    label = variant(r, runs) + (f" @ {s * 100:.0f}%" if s is not None else "")
    if len({x.config.get("seed") for x in runs}) > 1:  # only name the seed when it tells runs apart
        label += f" seed {r.config.get('seed')}"
    return label


def target_sparsity(r: RunResult) -> float | None:
    return r.config.get("sparsity")


def order(r: RunResult, labels: dict[str, str]) -> tuple[str, float, str]:
    """Variant (``labels``: :func:`variants` of the group), then sparsity (unset first), then run
    key: a stable reading order."""
    s = target_sparsity(r)
    return labels[r.run_key], -1.0 if s is None else float(s), r.run_key


def first_ok(runs: list[RunResult]) -> RunResult | None:
    return next((r for r in runs if r.status == "ok"), None)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def primary_metric(r: RunResult) -> str | None:
    return r.task.get("primary_metric")


def dev_splits(runs: list[RunResult]) -> list[str]:
    """The task's dev splits; if the task does not name them, every split any model reports."""
    for r in runs:
        if r.task.get("dev_splits"):
            return list(r.task["dev_splits"])
    seen: dict[str, None] = {}
    for r in runs:
        for rep in (r.teacher, r.student_after_compress, r.student):
            seen.update(dict.fromkeys(rep.metrics))
    return list(seen)


def metric_names(runs: list[RunResult]) -> list[str]:
    """The task's metrics (official first); else every metric any model reports."""
    for r in runs:
        if r.task.get("metrics"):
            return list(r.task["metrics"])
    seen: dict[str, None] = {}
    for r in runs:
        for rep in (r.teacher, r.student_after_compress, r.student):
            for per_split in rep.metrics.values():
                seen.update(dict.fromkeys(per_split))
    return list(seen)


def value(rep: ModelReport, split: str, metric: str | None) -> float | None:
    if metric is None:
        return None
    return rep.metrics.get(split, {}).get(metric)


def metric_kept(r: RunResult, rep: ModelReport, split: str) -> float | None:
    """``rep``'s primary metric on ``split`` as a share of the same run's teacher (1.0 = all of it)."""
    metric = primary_metric(r)
    mine, teacher = value(rep, split, metric), value(r.teacher, split, metric)
    return None if mine is None or not teacher else mine / teacher


def primary_delta(r: RunResult, rep: ModelReport, split: str) -> float | None:
    """Primary metric of ``rep`` minus the same run's teacher (so seeds and data match)."""
    metric = primary_metric(r)
    student, teacher = value(rep, split, metric), value(r.teacher, split, metric)
    return None if student is None or teacher is None else student - teacher


# ---------------------------------------------------------------------------------------------
# Size, speed, time
# ---------------------------------------------------------------------------------------------


def measured_sparsity(rep: ModelReport) -> float | None:
    """Structured: encoder parameters removed vs the teacher."""
    return rep.size.measured_sparsity if rep.size else None


def unstructured_sparsity(rep: ModelReport) -> float | None:
    """Zeros among the encoder parameters present (None for results written before it was recorded)."""
    return rep.size.unstructured_sparsity if rep.size else None


#: safetensors dtype names as a reader says them
_DTYPE_NAMES = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F64": "fp64", "I8": "int8", "U8": "uint8",
                "I32": "int32", "I64": "int64"}


def stored_as(rep: ModelReport) -> str | None:
    """How the saved model's bytes split by dtype, largest first (``int8 72%, fp32 27%``), read from
    the files; None for results written before it was recorded."""
    by_dtype = rep.size.bytes_by_dtype if rep.size else None
    if not by_dtype:
        return None
    total = sum(by_dtype.values())
    parts = sorted(by_dtype.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{_DTYPE_NAMES.get(k, k)} {v / total:.0%}" for k, v in parts if v / total >= 0.005)


def plot_sparsity(r: RunResult) -> float | None:
    """Sparsity for a figure's x axis: measured when known (what the model really is), else the
    target the run asked for."""
    measured = measured_sparsity(r.student)
    return measured if measured is not None else target_sparsity(r)


def latency_ms(rep: ModelReport) -> float | None:
    return rep.inference.latency_ms_median if rep.inference else None


def speedup(r: RunResult, rep: ModelReport) -> float | None:
    """Teacher median latency / this model's, both from the same run (same machine and load)."""
    teacher, student = latency_ms(r.teacher), latency_ms(rep)
    return None if not teacher or not student else teacher / student


def phase_seconds(r: RunResult, prefixes: tuple[str, ...]) -> tuple[float | None, bool]:
    """Summed wall time of the phases whose names start with ``prefixes``, and whether any of
    them was reused from the cache (its wall time is then loading, not training)."""
    phases = [p for p in r.phases if p.name.startswith(prefixes)]
    if not phases:
        return None, False
    return sum(p.wall_s for p in phases), any(p.cache_hit for p in phases)


#: phase names that count as training the student, for each row of the comparison
TRAIN_PHASES = {"compressed": ("compress:",), "before post-training": ("compress:", "tune:"),
                "student": ("compress:", "tune:"),
                "teacher": ("teacher-finetune",)}


# ---------------------------------------------------------------------------------------------
# Energy
# ---------------------------------------------------------------------------------------------


def meter_method(r: RunResult, meter: str, rep: ModelReport | None = None) -> tuple[str | None, list[str]]:
    """The method label(s) and what a meter covered, from its readings (inference first, then any
    phase). ``meter`` is a meter name or, as ``energy_per_example_j`` keys it, ``meter:covers``."""
    name, _, covers = meter.partition(":")
    sources = [rep.inference.energy] if rep and rep.inference else []
    sources.append([e for p in r.phases for e in p.energy])
    for readings in sources:
        mine = [e for e in readings if e.meter == name and (not covers or e.covers == covers)]
        if mine:
            # One meter may mix methods (perun: counters where the device has one, sampled
            # power elsewhere); name them all rather than the first.
            methods = "/".join(dict.fromkeys(e.method for e in mine))
            return methods, list(dict.fromkeys(e.covers for e in mine if e.covers))
    return None, []


def meter_source(r: RunResult, meter: str) -> str | None:
    """The plugin, distribution and version behind meter ``meter``'s figures in ``r`` (``meter``
    or ``meter:covers``); ``None`` for results written before provenance was recorded."""
    from greenprune.provenance import figure_source

    return figure_source(r, meter)


#: joules in one kilowatt-hour
J_PER_KWH = 3.6e6


def idle_watts(r: RunResult) -> list[tuple[EnergyReading, float | None]]:
    """The run's idle-baseline readings, each with its idle power in W (``None``: no figure)."""
    return [(e, e.joules / e.window_s if e.joules is not None and e.window_s > 0 else None)
            for e in r.energy_baseline]


def energy_factors(r: RunResult) -> tuple[float | None, float | None, str]:
    """The run's CO2 intensity (g/kWh), electricity price (per kWh) and currency, as configured
    (``None`` when not set, or for results written before the energy section existed)."""
    energy = r.config.get("energy") or {}
    return energy.get("co2_g_per_kwh"), energy.get("price_per_kwh"), str(energy.get("currency") or "EUR")


def co2_grams(joules: float | None, g_per_kwh: float | None) -> float | None:
    """CO2-equivalent of ``joules`` at a grid intensity: derived for the report, never stored."""
    return None if joules is None or g_per_kwh is None else joules / J_PER_KWH * g_per_kwh


def cost(joules: float | None, price_per_kwh: float | None) -> float | None:
    """Electricity cost of ``joules`` at a price per kWh: derived for the report, never stored."""
    return None if joules is None or price_per_kwh is None else joules / J_PER_KWH * price_per_kwh


def several_processes(r: RunResult) -> bool:
    """Whether ``r``'s phase readings came from more than one process (torchrun, accelerate launch)."""
    from greenprune.energy_ranks import several_processes as several

    return several([*r.energy_baseline, *(e for p in r.phases for e in p.energy)])


def covers_label(e: EnergyReading, several: bool) -> str:
    """What reading ``e`` covers, with the rank that read it where ``several`` processes read
    their own (``process-cpu (rank 1)``)."""
    from greenprune.energy_ranks import reading_label

    return reading_label(e, several)


def phase_totals(r: RunResult) -> list[tuple[str, str, str, float | None, float | None, float | None]]:
    """Per (meter, sensor kind) over all phases: what it covers, method, total, baseline and
    dynamic J. The sensors of one kind add up (``gpu:0`` + ``gpu:1``; each rank's ``process-cpu``
    in a multi-process run, whose node sensors were kept once per host when it was recorded). A
    sum is ``None`` when any reading lacks that figure (a partial sum would pass for the whole
    run). Meters are never added to each other."""
    from greenprune.energy_ranks import totals

    def total(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    return [(meter, covers, "/".join(dict.fromkeys(e.method for e in mine)),
             total([e.joules for e in mine]), total([e.baseline_j for e in mine]),
             total([e.dynamic_j for e in mine]))
            for meter, covers, mine in totals(e for p in r.phases for e in p.energy)]


def teacher_layer_of(r: RunResult, n_layers: int) -> dict[int, int] | None:
    """Student layer -> the teacher layer it was made from, recorded by the last phase that changed
    the depth (``layer_map`` in its details, as a layer-dropping compressor records it); None when
    no phase did, or when the map does not describe a student of ``n_layers`` layers."""
    for phase in reversed(r.phases):
        mapping = phase.details.get("layer_map")
        if isinstance(mapping, dict) and mapping:
            origin = {int(s): int(t) for s, t in mapping.items()}
            return origin if sorted(origin) == list(range(n_layers)) else None
    return None


def traces_of(runs: list[RunResult], kind: str) -> list[tuple[RunResult, str, list[dict[str, float]]]]:
    """``(run, phase name, steps)`` of every non-empty trace of phases of ``kind`` (``compress:prune``:
    ``compress:prune#2`` too), in run order."""
    return [(r, name, steps) for r in runs for name, steps in r.traces.items()
            if steps and phase_kind(name) == kind]
