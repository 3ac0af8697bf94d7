"""The run context owns the result: typed phase outputs, one metering window, shared train options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greenprune.api import (
    EnergyReading,
    Meter,
    ModelBundle,
    PhaseOutput,
    RunConfig,
    RunContext,
    TrainOverrides,
    phase_config,
)
from greenprune.components import collect
from greenprune.phases import _produced
from greenprune.plugins import make_plugin_manager
from greenprune.progress import Progress
from greenprune.results import RunResult


class CountingMeter(Meter):
    name, measured = "counting", True

    def __init__(self) -> None:
        self.events: list[str] = []

    def available(self) -> tuple[bool, str]:
        return True, "test"

    def start(self) -> Any:
        self.events.append("start")
        return len(self.events)

    def stop(self, token: Any) -> list[EnergyReading]:
        self.events.append("stop")
        return [EnergyReading(meter=self.name, joules=1.0, method="counter", covers="test", window_s=0.0)]


def _ctx(tmp_path: Path, meters: list[Meter]) -> RunContext:
    pm = make_plugin_manager(load_entry_points=False)
    return RunContext(config=RunConfig(), pm=pm, catalogue=collect(pm), out_dir=tmp_path, cache_dir=tmp_path,
                      progress=Progress(quiet=True), result=RunResult(run_key="k", started_at="", config={}),
                      meters=meters)


def test_a_phase_output_lands_in_the_result_without_magic_keys(tmp_path: Path) -> None:
    meter = CountingMeter()
    ctx = _ctx(tmp_path, [meter])
    value = ctx.run_phase("tune:x", lambda: PhaseOutput("model", {"train": {"steps": 3}},
                                                        trace=[{"step": 1.0, "loss": 0.5}], cache_hit=True))
    assert value == "model"
    (record,) = ctx.result.phases
    assert record.name == "tune:x" and record.details == {"train": {"steps": 3}} and record.cache_hit
    assert ctx.result.traces == {"tune:x": [{"step": 1.0, "loss": 0.5}]}
    # the phase was metered once, and the reading got the phase's window
    assert meter.events == ["start", "stop"]
    assert record.energy[0].window_s == pytest.approx(record.wall_s, abs=0.05) and record.energy[0].window_s > 0
    # a plain return value is a phase output with nothing to record
    assert ctx.run_phase("evaluate:x", lambda: {"dev": {"acc": 1.0}}) == {"dev": {"acc": 1.0}}
    assert ctx.result.phases[-1].details == {} and "evaluate:x" not in ctx.result.traces


def test_a_failed_phase_is_not_recorded_and_its_meters_are_stopped(tmp_path: Path) -> None:
    meter = CountingMeter()
    ctx = _ctx(tmp_path, [meter])

    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ctx.run_phase("compress:x", boom)
    assert meter.events == ["start", "stop"] and ctx.result.phases == []


def test_a_compressor_returning_the_old_tuple_is_named() -> None:
    bundle = ModelBundle(None, None, "m", "x")
    assert _produced(PhaseOutput(bundle), "compressor 'c'").value is bundle
    with pytest.raises(TypeError, match=r"compressor 'c' returned tuple; return greenprune.api.PhaseOutput"):
        _produced((bundle, {}), "compressor 'c'")


def test_train_overrides_are_declared_once_and_layer_in_order() -> None:
    from greenprune_builtins.adapter import AdapterOptions
    from greenprune_builtins.cofi import CofiOptions
    from greenprune_builtins.distill import DistillOptions
    from greenprune_builtins.finetune import FinetuneOptions

    for options in (FinetuneOptions, AdapterOptions, DistillOptions, CofiOptions):
        assert issubclass(options, TrainOverrides) and "epochs" in options.model_fields
    assert "epochs" not in {n for n in vars(DistillOptions).get("__annotations__", {})}
    ctx = _ctx(Path("."), [])
    base = ctx.config.train
    assert FinetuneOptions().overrides() == {}
    cfg = phase_config(ctx, {"learning_rate": 1e-3, "epochs": 9.0}, {"epochs": 2.0}, FinetuneOptions().overrides())
    assert (cfg.epochs, cfg.learning_rate, cfg.batch_size) == (2.0, 1e-3, base.batch_size)
    cfg = phase_config(ctx, {"epochs": 2.0}, FinetuneOptions(epochs=0.5).overrides())
    assert cfg.epochs == 0.5 and ctx.config.train.epochs == base.epochs  # the run's config is untouched
