"""A multi-process run's readings in one result: node sensors once per host, process sensors once
per rank, totals per meter and sensor kind (fabricated readings; the two-process run itself is in
tests/integration/test_multiprocess.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from greenprune import distributed
from greenprune.energy_ranks import merge, merge_ranks, sensor_kind
from greenprune.metering import metered
from greenprune.payback import _cost
from greenprune.report import facts
from greenprune.results import EnergyReading, PhaseRecord, RunResult


def rd(meter: str, covers: str, joules: float, rank: int, *, host: str = "node-a", scope: str = "node",
       method: str = "counter") -> EnergyReading:
    return EnergyReading(meter=meter, joules=joules, method=method, covers=covers, window_s=10.0,
                         scope=scope, host=host, rank=rank)  # type: ignore[arg-type]


def on_rank(rank: int, host: str = "node-a", cpu_j: float = 5.0) -> list[EnergyReading]:
    """What one rank of a GPU node reads in one window: RAPL, NVML (every GPU) and its own CPU time."""
    return [rd("rapl", "cpu-package:0", 100.0, rank, host=host), rd("rapl", "dram:0", 10.0, rank, host=host),
            rd("nvml", "gpu:0", 300.0, rank, host=host), rd("nvml", "gpu:1", 280.0, rank, host=host),
            rd("cpu-estimate", "process-cpu", cpu_j, rank, host=host, scope="process", method="estimate")]


def test_node_sensors_once_per_host_process_sensors_once_per_rank() -> None:
    merged = merge([on_rank(0, cpu_j=5.0), on_rank(1, cpu_j=7.0)])
    seen = [(r.meter, r.covers, r.rank) for r in merged]
    assert seen == [("rapl", "cpu-package:0", 0), ("rapl", "dram:0", 0), ("nvml", "gpu:0", 0), ("nvml", "gpu:1", 0),
                    ("cpu-estimate", "process-cpu", 0), ("cpu-estimate", "process-cpu", 1)]
    assert merged[0].details["also_read_by_ranks"] == [1]  # says who else read it
    assert [r.joules for r in merged if r.covers == "process-cpu"] == [5.0, 7.0]


def test_two_hosts_keep_each_hosts_node_sensors() -> None:
    merged = merge([on_rank(0, "node-a"), on_rank(1, "node-a"), on_rank(2, "node-b"), on_rank(3, "node-b")])
    assert sum(r.covers == "gpu:0" for r in merged) == 2  # one per machine
    assert {r.rank for r in merged if r.covers == "gpu:0"} == {0, 2}
    assert sum(r.covers == "process-cpu" for r in merged) == 4


def test_a_sensor_without_scope_is_never_counted_twice() -> None:
    old = [EnergyReading(meter="m", joules=1.0, method="counter", covers="x", window_s=1.0, host="h", rank=r)
           for r in (0, 1)]
    assert len(merge([[old[0]], [old[1]]])) == 1


def test_totals_add_sensors_of_one_kind_and_ranks_never_meters() -> None:
    merged = merge([on_rank(0, cpu_j=5.0), on_rank(1, cpu_j=7.0)])
    r = RunResult(run_key="k", started_at="t", config={},
                  phases=[PhaseRecord(name="compress:cofi", energy=merged),
                          PhaseRecord(name="tune:finetune", energy=merge([on_rank(0, cpu_j=1.0),
                                                                          on_rank(1, cpu_j=2.0)]))])
    totals = {(meter, covers): total for meter, covers, _m, total, _b, _d in facts.phase_totals(r)}
    assert totals == {("rapl", "cpu-package:0"): 200.0, ("rapl", "dram:0"): 20.0,
                      ("nvml", "gpu (gpu:0, gpu:1)"): 2 * (300.0 + 280.0),
                      ("cpu-estimate", "process-cpu (ranks 0, 1)"): 5.0 + 7.0 + 1.0 + 2.0}
    assert facts.several_processes(r)
    assert facts.covers_label(merged[-1], True) == "process-cpu (rank 1)"
    # payback's compression cost on one source: the per-process sensor over both ranks
    assert _cost(r, "cpu-estimate", "process-cpu")[0] == 15.0
    assert _cost(r, "nvml", "gpu:0")[0] == 600.0


def test_sensor_kind() -> None:
    assert [sensor_kind(c) for c in ("gpu:12", "cpu-package:0", "process-cpu", "intel_rapl:package")] == [
        "gpu", "cpu-package", "process-cpu", "intel_rapl:package"]


def test_old_readings_load_without_the_new_fields() -> None:
    old = {"meter": "rapl", "joules": 1.0, "method": "counter", "covers": "cpu-package:0", "window_s": 1.0}
    r = EnergyReading.model_validate(old)
    assert (r.scope, r.host, r.rank) == (None, None, None)


class ProcessMeter:
    name, measured, overlaps = "proc", True, ()

    def __init__(self, scope: str | None) -> None:
        self.scope = scope

    def available(self) -> tuple[bool, str]:
        return True, ""

    def start(self) -> Any:
        return time.perf_counter()

    def stop(self, token: Any) -> list[EnergyReading]:
        return [EnergyReading(meter=self.name, joules=1.0, method="counter", covers="x", window_s=0.0,
                              scope=self.scope)]  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def test_metered_tags_where_and_defaults_the_scope_to_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    with metered([ProcessMeter("process"), ProcessMeter(None)]) as window:  # type: ignore[list-item]
        pass
    assert [(r.scope, r.rank) for r in window.readings] == [("node", 3), ("process", 3)]
    assert all(r.host for r in window.readings)


def test_merge_ranks_matches_phases_and_leaves_main_only_phases_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def result(rank: int, phases: list[str]) -> RunResult:
        return RunResult(run_key="k", started_at="t", config={}, energy_baseline=on_rank(rank),
                         phases=[PhaseRecord(name=n, energy=on_rank(rank)) for n in phases])

    main = result(0, ["teacher-finetune", "inference", "inference:runtimes"])
    other = result(1, ["teacher-finetune", "inference"])
    payloads: list[Any] = []

    def gather(obj: Any) -> list[Any]:  # what every rank would send: main's and rank 1's
        payloads.append(obj)
        return [obj, {"where": {"host": "node-a", "rank": 1}, "baseline": [r.model_dump() for r in
                                                                           other.energy_baseline],
                      "phases": [(p.name, [r.model_dump() for r in p.energy]) for p in other.phases]}]

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "gather", gather)
    merge_ranks(main)
    assert len(payloads) == 1  # one collective per run
    cpu = [[r.rank for r in p.energy if r.covers == "process-cpu"] for p in main.phases]
    assert [p.name for p in main.phases] == ["teacher-finetune", "inference", "inference:runtimes"]
    assert cpu == [[0, 1], [0, 1], [0]]  # the runtime matrix ran on the main process only
    assert [r.rank for r in main.energy_baseline if r.covers == "gpu:0"] == [0]
    assert [r.rank for r in main.energy_baseline if r.covers == "process-cpu"] == [0, 1]
    assert [w["rank"] for w in main.extra["processes"]] == [0, 1]


def test_each_reading_takes_its_own_process_idle_power() -> None:
    from greenprune.metering import apply_baseline

    baseline = merge([on_rank(0, cpu_j=10.0), on_rank(1, cpu_j=20.0)])  # 10 s windows: 1 W and 2 W
    readings = merge([on_rank(0, cpu_j=50.0), on_rank(1, cpu_j=50.0)])
    apply_baseline(readings, baseline)
    assert [(r.rank, r.baseline_j, r.dynamic_j) for r in readings if r.covers == "process-cpu"] == [
        (0, 10.0, 40.0), (1, 20.0, 30.0)]
    assert next(r for r in readings if r.covers == "gpu:0").baseline_j == 300.0  # the node's own
