"""Honest meter labels enforced by the core, plugin provenance in results, reuse only while
versions hold, and component options shown by ``greenprune plugins``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from greenprune.api import Component, EnergyReading, Meter, hookimpl
from greenprune.cli import cli
from greenprune.components import collect
from greenprune.metering import metered, select_meters
from greenprune.plugins import make_plugin_manager
from greenprune.progress import Progress
from greenprune.provenance import changed_components, component_versions, run_components
from greenprune.results import ResultStore, RunResult


class FakeMeter(Meter):
    def __init__(self, name: str, measured: bool, method: str) -> None:
        self.name, self.measured, self.method, self.closed = name, measured, method, False

    def available(self) -> tuple[bool, str]:
        return True, "counter found"  # what it claims

    def start(self) -> Any:
        return None

    def stop(self, token: Any) -> list[EnergyReading]:
        return [EnergyReading(meter=self.name, joules=2.0, method=self.method, covers="cpu", window_s=0.0)]

    def close(self) -> None:
        self.closed = True


def _meters_plugin(*meters: FakeMeter) -> object:
    class Plugin:
        @hookimpl
        def greenprune_register_meters(self, register: Any) -> None:
            for m in meters:
                register(Component(m.name, factory=lambda _o, m=m: m))

    return Plugin()


def test_auto_skips_a_meter_declared_measured_whose_readings_are_estimates() -> None:
    liar = FakeMeter("liar", measured=True, method="estimate")
    honest = FakeMeter("honest", measured=True, method="counter")
    catalogue = collect(make_plugin_manager(extra_plugins=[_meters_plugin(liar, honest)], load_entry_points=False))
    chosen, log = select_meters(["auto"], catalogue, {})
    assert chosen == [honest] and liar.closed and not honest.closed
    assert any("skipping liar" in line and "labelled estimate" in line for line in log)


def test_a_meter_declared_estimate_never_yields_a_measured_label() -> None:
    meter = FakeMeter("guess", measured=False, method="counter")
    with metered([meter]) as window:
        pass
    (reading,) = window.readings
    assert reading.method == "estimate" and reading.details["declared_method"] == "counter"
    assert "declares measured=False" in reading.note and reading.window_s > 0


def test_a_reading_with_an_unknown_method_is_refused() -> None:
    meter = FakeMeter("odd", measured=True, method="counter")
    bad = EnergyReading(meter="odd", joules=1.0, method="counter", covers="cpu", window_s=1.0)
    bad.method = "vibes"  # type: ignore[assignment]  # what an unchecked plugin could do
    meter.stop = lambda token: [bad]  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="method"), metered([meter]):
        pass


def test_results_record_versions_and_a_changed_plugin_reruns(tmp_path: Path, fast_flags: list[str]) -> None:
    from greenprune.config import build_config
    from greenprune.runner import reusable_keys

    out = tmp_path / "out"
    run = CliRunner().invoke(cli, ["-q", "bench", *fast_flags, "--meter", "cpu-estimate", "--out", str(out),
                                   "--set", "inference.enabled=false", "--set", "save_student=false"])
    assert run.exit_code == 0, run.output
    store = ResultStore(out)
    result = store.load()[0]  # the demo bench may hold more than one run: this one is enough
    assert result.status == "ok", result.error
    bench = build_config(result.config)
    comps = result.env["components"]
    chain = {f"compressor:{c}" for c in result.config["compressors"]}
    assert {"task:demo", *chain, "tuner:finetune", "evaluator:glue", "meter:cpu-estimate"} <= set(comps)
    assert comps["tuner:finetune"]["distribution"] == "greenprune" and comps["tuner:finetune"]["version"]
    assert result.env["plugins"]["finetune"]["distribution"] == "greenprune"
    # the report names the plugin and version behind the measured (here: estimated) figures
    version = comps["meter:cpu-estimate"]["version"]
    assert f"Measured by: cpu-estimate by cpu-estimate (greenprune {version})" in (out / "report.md").read_text()
    pm = make_plugin_manager()
    catalogue = collect(pm)
    assert reusable_keys(store, bench.runs(), pm, catalogue, Progress(quiet=True)) == {result.run_key}
    # the same run recorded with another version of the tuner's distribution: no longer reusable
    old = store.load()[0]
    old.env["components"]["tuner:finetune"]["version"] = "0.0.1"
    now = component_versions(pm, catalogue, run_components(bench.runs()[0], catalogue))
    assert changed_components(old, now) == [f"tuner:finetune was greenprune 0.0.1, now greenprune "
                                            f"{now['tuner:finetune']['version']}"]
    store.path.write_text(old.model_dump_json() + "\n", encoding="utf-8")
    assert reusable_keys(store, bench.runs(), pm, catalogue, Progress(quiet=True)) == set()
    # a result from before provenance was recorded keeps resuming
    old.env.pop("components")
    assert changed_components(old, now) == []


def test_plugins_shows_component_options() -> None:
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    (distill,) = [d for r in rows for d in r["component_details"] if d["name"] == "distill"]
    options = {o["name"]: o for o in distill["options"]}
    assert options["temperature"]["default"] == 2.0 and "temperature" in options["temperature"]["help"]
    assert "epochs" in options and distill["schema"]["additionalProperties"] is False
    assert distill["description"].startswith("drop encoder layers")
    one = CliRunner().invoke(cli, ["plugins", "distill"])
    assert one.exit_code == 0 and "--set distill.temperature=...  number, default 2.0" in one.output
    detail = json.loads(CliRunner().invoke(cli, ["plugins", "distill", "--json"]).output)
    assert detail[0]["kind"] == "compressor" and detail[0]["version"]
    missing = CliRunner().invoke(cli, ["plugins", "distil"])
    assert missing.exit_code != 0 and "Did you mean 'distill'" in str(missing.exception)


def test_old_results_without_provenance_still_load_and_render(tmp_path: Path) -> None:
    from greenprune.report.facts import meter_source

    line = (Path(__file__).resolve().parents[2] / "reports" / "retention-cpu" / "results.jsonl").read_text(
        encoding="utf-8").splitlines()[0]
    old = RunResult.model_validate_json(line)
    assert "components" not in old.env and meter_source(old, "cpu-estimate:process-cpu") is None
