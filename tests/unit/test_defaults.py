"""Defaults that come from components: a pruner's default targets, a task's config defaults."""

from __future__ import annotations

from typing import Any

import pytest

from greenprune.api import Component, Task, hookimpl
from greenprune.components import Catalogue, collect
from greenprune.config import build_config
from greenprune.defaults import planned_keys, resolve
from greenprune.errors import UserError
from greenprune.plugins import make_plugin_manager
from greenprune.sweep import SweepAxes, expand, parse_vary


class _Plugin:
    """A pruner without default targets, and a task that declares config defaults."""

    @hookimpl
    def greenprune_register_compressors(self, register: Any) -> None:
        register(Component("strict-pruner", factory=lambda opts: object(), needs_sparsity=True))

    @hookimpl
    def greenprune_register_tasks(self, register: Any) -> None:
        task = Task(name="tiny-task", title="t", kind="classification", num_labels=2, metrics=("accuracy",),
                    primary_metric="accuracy", config_defaults={"train": {"batch_size": 4, "epochs": 1.0}})
        register(Component("tiny-task", factory=lambda opts: task))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return collect(make_plugin_manager(extra_plugins=[_Plugin()]))


def test_the_default_bench_compresses_at_the_pruners_targets(catalogue: Catalogue) -> None:
    bench, notes = resolve(build_config(), catalogue)
    cofi = catalogue.get("compressor", "cofi")
    assert bench.compressors == ["cofi"] and bench.sparsity == list(cofi.default_sparsities)
    assert len(cofi.default_sparsities) >= 2 and all(0 < s < 1 for s in cofi.default_sparsities)
    assert any("default targets" in n for n in notes)
    # the demo's own defaults, declared by the task, not the core
    demo = catalogue.get("task", "demo").build({})
    assert bench.train.batch_size == demo.config_defaults["train"]["batch_size"]
    assert bench.inference.seq_length == demo.config_defaults["inference"]["seq_length"]


def test_what_the_user_sets_wins_over_component_defaults(catalogue: Catalogue) -> None:
    bench, _ = resolve(build_config(None, {"epochs": 1.0, "sparsity": [0.3]}, ["train.batch_size=32"]), catalogue)
    demo = catalogue.get("task", "demo").build({})
    assert (bench.train.epochs, bench.train.batch_size, bench.sparsity) == (1.0, 32, [0.3])
    assert bench.inference.seq_length == demo.config_defaults["inference"]["seq_length"]
    other, notes = resolve(build_config(None, {"task": "mrpc", "compressors": ("none",)}), catalogue)
    assert other.train == build_config().train and other.sparsity == [] and notes == []


def test_a_pruner_without_defaults_needs_sparsity(catalogue: Catalogue) -> None:
    with pytest.raises(UserError, match="--compressor strict-pruner needs a target: add --sparsity"):
        resolve(build_config(None, {"compressors": ("strict-pruner",)}), catalogue)
    with pytest.raises(UserError, match="strict-pruner needs a target"):
        expand(build_config(), SweepAxes(chains=["strict-pruner"]), catalogue)


def test_bench_and_sweep_cells_agree_on_task_defaults(catalogue: Catalogue) -> None:
    base = build_config(None, {"task": "tiny-task", "compressors": ("none",)})
    bench, _ = resolve(base, catalogue)
    assert (bench.train.batch_size, bench.train.epochs) == (4, 1.0)
    (cell,) = expand(base, SweepAxes(), catalogue)
    assert cell.key == bench.runs()[0].run_key()  # bench and sweep resume each other
    # a --vary value beats the task's default
    varied = expand(base, SweepAxes(vary=parse_vary(["train.batch_size=8"])), catalogue)
    assert varied[0].config.train.batch_size == 8 and varied[0].config.train.epochs == 1.0


def test_planned_keys_are_the_runs_run_bench_makes() -> None:
    bench = build_config()
    resolved, _ = resolve(bench, collect(make_plugin_manager()))
    assert planned_keys(bench, []) == [r.run_key() for r in resolved.runs()]
    assert len(planned_keys(bench, [])) == len(resolved.sparsity)


def test_task_config_defaults_must_name_real_settings() -> None:
    # a bad value in a task's defaults is one clear error naming the task, not silently used
    task = Task(name="x", title="x", kind="classification", num_labels=2, metrics=("accuracy",),
                primary_metric="accuracy", config_defaults={"train": {"batch_size": 0}})

    class P:
        @hookimpl
        def greenprune_register_tasks(self, register: Any) -> None:
            register(Component("x", factory=lambda opts: task))

    with pytest.raises(UserError, match="task 'x' declares a bad config default.*batch_size"):
        resolve(build_config(None, {"task": "x", "compressors": ("none",)}),
                collect(make_plugin_manager(extra_plugins=[P()])))
