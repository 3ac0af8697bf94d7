"""The thin runner: validate a bench, then run each of its runs phase by phase.

Every ML capability is a plugin; this module only sequences the phases (teacher fine-tune,
compressors in order, tuner, evaluation, inference), passes each through the metered phase hook,
and writes one result per finished run.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.components import Catalogue, collect
from greenprune.config import BenchConfig, RunConfig
from greenprune.context import RunContext
from greenprune.defaults import resolve
from greenprune.distributed import broadcast, check_launch, is_main, rank, world_size
from greenprune.errors import UserError, unknown
from greenprune.locks import run_lock
from greenprune.plugins import make_plugin_manager
from greenprune.preflight import check_bench, check_chain
from greenprune.progress import Progress
from greenprune.results import ResultStore, RunResult

if TYPE_CHECKING:
    import pluggy


def validate(bench: BenchConfig, catalogue: Catalogue) -> None:
    """Check every name and option against the plugins before any model or data loads."""
    task_component = catalogue.get("task", bench.task)
    chain = [catalogue.get("compressor", name) for name in bench.compressors]
    if "none" in bench.compressors and len(bench.compressors) > 1:
        raise UserError(f"--compressor none cannot be chained with others (got {' + '.join(bench.compressors)})")
    check_chain(bench.compressors, catalogue)
    pruners = [c.name for c in chain if c.needs_sparsity]
    if bench.sparsity and not pruners:
        raise UserError(f"--sparsity needs a compressor that prunes, e.g. --compressor cofi "
                        f"(got --compressor {' --compressor '.join(bench.compressors)})")
    if pruners and not bench.sparsity:
        raise UserError(f"--compressor {pruners[0]} needs a target: add --sparsity S (S in (0, 1), e.g. 0.6)")
    catalogue.get("tuner", bench.tuner)
    if bench.evaluator:
        evaluator = catalogue.get("evaluator", bench.evaluator)
        # Building a task reads no data (only its options), so this costs nothing.
        kind = getattr(task_component.build(bench.options.get(bench.task)), "kind", None)
        if evaluator.task_kinds and kind not in evaluator.task_kinds:
            raise UserError(f"evaluator {bench.evaluator!r} scores {' and '.join(evaluator.task_kinds)} tasks; "
                            f"task {bench.task!r} is {kind}: drop --set evaluator={bench.evaluator} "
                            "(each task names its own evaluator)")
    for meter in bench.meters:
        if meter != "auto":
            catalogue.get("meter", meter)
    if "onnxruntime" in bench.inference.runtimes:
        from greenprune.onnx_runtime import check_available

        check_available()
    # Build the run's components once (cheap: options only) so one that lacks a protocol member
    # fails here, in one line, rather than after the teacher's fine-tune.
    task = task_component.build(bench.options.get(bench.task))
    named = [*(("compressor", n) for n in bench.compressors), ("tuner", bench.tuner),
             ("evaluator", bench.evaluator or task.evaluator)]
    for kind, name in named:
        catalogue.get(kind, name).build(bench.options.get(name))
    everything = {name: comp for by_name in catalogue.by_kind.values() for name, comp in by_name.items()}
    for name, raw in bench.options.items():
        if name not in everything:
            raise unknown("component in options", name, everything, hint="(--set NAME.option=value)")
        everything[name].validate_options(raw)


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_bench(bench: BenchConfig, out_dir: Path, *, disable: Iterable[str] = (), extra_plugins: Iterable[Any] = (),
              progress: Progress | None = None) -> list[RunResult]:
    """Run every run of ``bench`` not already finished in ``out_dir``; return this call's results."""
    progress = progress or Progress()
    disable, extra_plugins = list(disable), list(extra_plugins)
    pm = make_plugin_manager(disable, extra_plugins)
    catalogue = collect(pm)
    bench, notes = resolve(bench, catalogue)  # the components' own defaults where the user set none
    for note in notes:
        progress.say(f"[dim]{note}[/dim]")
    validate(bench, catalogue)
    check_launch(bench.train)
    check_bench(bench, pm, catalogue, out_dir)  # files and the teacher's config: before any meter starts
    store = ResultStore(out_dir)
    runs = bench.runs()
    done = reusable_keys(store, runs, pm, catalogue, progress)
    results = []
    for i, cfg in enumerate(runs, 1):
        label = f"run {i}/{len(runs)}: {bench.task} {'+'.join(cfg.compressors)} / {cfg.tuner}" + (
            f" @ sparsity {cfg.sparsity}" if cfg.sparsity is not None else "")
        if cfg.run_key() in done:
            progress.say(f"[green]{label}: already finished in {store.path}, skipped[/green]")
            continue
        # One process per run at a time: a second one (another bench into this folder, a sweep
        # cell left running) waits here, then finds the run finished instead of running it again.
        # (Under torchrun the main process holds the lock; all processes follow its decision.)
        with run_lock(out_dir, cfg.run_key(), on_wait=lambda msg: progress.say(f"[yellow]{msg}[/yellow]")):
            if broadcast(cfg.run_key() in store.finished_keys()):
                progress.say(f"[green]{label}: finished meanwhile by another process, skipped[/green]")
                continue
            progress.say(f"[bold]{label}[/bold]")
            result = run_one(cfg, out_dir, disable=disable, extra_plugins=extra_plugins, progress=progress)
            if is_main():  # every process ran the run; one writes it
                store.append(result)
        results.append(result)
        if result.status == "failed" and world_size() > 1:
            # A failure may have left the other processes waiting in a collective this one will
            # never reach (one rank raised inside a training step): going on to the next run would
            # deadlock them. Stop; the process exits non-zero and the launcher (torchrun, accelerate
            # launch) then stops the others. Other ranks are quiet, so they say why on stderr.
            if not is_main():
                print(f"greenprune rank {rank()}: run failed: {result.error}", file=sys.stderr)
            progress.say("[red]stopping the bench: a run failed in a multi-process run[/red]")
            break
    return results


def reusable_keys(store: ResultStore, runs: list[RunConfig], pm: pluggy.PluginManager, catalogue: Catalogue,
                  progress: Progress) -> set[str]:
    """Run keys of ``runs`` finished in ``store`` whose components (task, compressors, tuner,
    evaluator, named meters) still come from the same distributions at the same versions; a run
    whose plugin changed is run again (said on the console) and its new result supersedes the old."""
    from greenprune.provenance import changed_components, component_versions, run_components

    finished = {r.run_key: r for r in store.load() if r.status == "ok"}
    keep = set()
    for cfg in runs:
        old = finished.get(cfg.run_key())
        if old is None:
            continue
        changed = changed_components(old, component_versions(pm, catalogue, run_components(cfg, catalogue)))
        if changed:
            progress.say(f"[yellow]run {old.run_key}: finished before, but {'; '.join(changed)}: running it "
                         "again[/yellow]")
        else:
            keep.add(old.run_key)
    return keep


def run_one(cfg: RunConfig, out_dir: Path, *, disable: list[str], extra_plugins: list[Any],
            progress: Progress) -> RunResult:
    """One run with its own, fresh plugin manager. A failure other than a user error is recorded
    in the result (status "failed") so a multi-run bench goes on."""
    from greenprune.environment import environment
    from greenprune.finetuning import default_cache_dir
    from greenprune.metering import select_meters

    pm = make_plugin_manager(disable, extra_plugins)
    catalogue = collect(pm)
    meters, meter_log = select_meters(cfg.meters, catalogue, cfg.options)
    result = RunResult(run_key=cfg.run_key(), started_at=utcnow(), config=cfg.model_dump(mode="json"),
                       env=environment())
    ctx = RunContext(config=cfg, pm=pm, catalogue=catalogue, out_dir=Path(out_dir),
                     cache_dir=cfg.cache_dir or default_cache_dir(), progress=progress, result=result, meters=meters)
    for line in meter_log:
        progress.say(f"[dim]meters: {line}[/dim]")
    result.extra["meter_selection"] = meter_log
    from greenprune.provenance import component_versions, distributions, run_components

    result.env["plugins"] = distributions(pm)
    result.env["components"] = component_versions(pm, catalogue,
                                                  run_components(cfg, catalogue, [m.name for m in meters]))
    # Every option of the run's components as it took effect, defaults included: config.options
    # holds only what the user set, and a plugin's defaults can change between versions.
    result.extra["options_in_effect"] = options_in_effect(cfg, catalogue)
    try:
        from greenprune.phases import run_phases

        run_phases(ctx)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        progress.say(f"[red]run failed: {result.error}[/red]")
    finally:
        for meter in meters:
            meter.close()
    result.finished_at = utcnow()
    pm.hook.greenprune_run_finished(ctx=ctx, result=result)
    from greenprune.model_card import write_card

    write_card(result, catalogue)  # the saved student's README.md, from the complete result
    return result


def options_in_effect(cfg: RunConfig, catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """The validated options (defaults filled in) of the run's task, compressors and tuner."""
    named = [("task", cfg.task), *(("compressor", c) for c in cfg.compressors), ("tuner", cfg.tuner)]
    if cfg.evaluator:
        named.append(("evaluator", cfg.evaluator))
    return {name: catalogue.get(kind, name).validate_options(cfg.options.get(name, {})).model_dump(mode="json")
            for kind, name in named}
