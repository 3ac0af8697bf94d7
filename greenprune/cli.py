"""The ``greenprune`` command. Imports stay light here so ``--help`` is fast; work happens in
modules imported by each command."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from greenprune import __version__
from greenprune.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Iterator


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="greenprune")
@click.option("--disable", "disable", multiple=True, metavar="PLUGIN",
              help="Disable a plugin by name (repeatable; also GREENPRUNE_DISABLE_PLUGINS=a,b).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or messages, only errors.")
@click.pass_context
def cli(ctx: click.Context, disable: tuple[str, ...], quiet: bool) -> None:
    """Benchmark BERT compression: accuracy kept, size, speed and (labelled) energy."""
    ctx.obj = {"disable": list(disable), "quiet": quiet}


@cli.command()
@click.option("--task", help="Task: demo (default, synthetic), a GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, "
              "qnli, rte, wnli), squad or squad_v2; `greenprune plugins` lists every installed one.")
@click.option("--teacher", help="minilm (default, embedded), a local model folder, or a Hub id.")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="GREENPRUNE_DATA_DIR",
              help="Folder with the task's files: the GLUE TSV layout, or SQuAD JSON (or env GREENPRUNE_DATA_DIR).")
@click.option("--compressor", "compressors", multiple=True, help="Compressor, repeatable, applied in order.")
@click.option("--tuner", help="Tuner for every phase after the teacher (default finetune).")
@click.option("--sparsity", multiple=True, type=float, help="Target sparsity in (0, 1); one run per value.")
@click.option("--meter", "meters", multiple=True, help="Energy meter, repeatable (default auto).")
@click.option("--epochs", type=float, help="Training epochs of every phase.")
@click.option("--max-train-samples", type=int, help="Subsample the training set (seeded).")
@click.option("--max-eval-samples", type=int, help="Subsample each dev split (seeded).")
@click.option("--seed", type=int)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/latest"), show_default=True,
              help="Output folder: results.jsonl, report.md, report.html, models/.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file with the run config (or the JSON a sweep records per cell).")
@click.option("--config-json", hidden=True, help="The run config as JSON data (how a sweep starts a cell).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any config value, e.g. --set train.learning_rate=3e-5 --set cofi.lambda_lr=0.01.")
@click.pass_obj
def bench(obj: dict[str, Any], out: Path, config_file: Path | None, config_json: str | None, sets: tuple[str, ...],
          **flags: Any) -> None:
    """Fine-tune the teacher, compress it, tune the student, and compare them."""
    from greenprune.config import build_config
    from greenprune.defaults import planned_keys
    from greenprune.distributed import is_main
    from greenprune.progress import Progress
    from greenprune.runner import run_bench

    flags["sparsity"] = list(flags["sparsity"]) or None
    if config_json is not None and config_file is not None:
        raise UserError("pass --config or --config-json, not both")
    try:
        data = json.loads(config_json) if config_json is not None else config_file
    except json.JSONDecodeError as exc:
        raise UserError(f"--config-json is not valid JSON: {exc}") from None
    bench_cfg = build_config(data, flags, list(sets))
    # Under torchrun / accelerate launch every process runs the bench; the main one speaks.
    progress = Progress(quiet=obj["quiet"] or not is_main())
    if bench_cfg.task == "demo":
        progress.say("[yellow]task: demo, a small SYNTHETIC task bundled with greenprune (not a benchmark). "
                     "For real data: greenprune bench --task mrpc --data-dir DIR (GLUE TSV layout).[/yellow]")
    results = run_bench(bench_cfg, out, disable=obj["disable"], progress=progress)
    if not is_main():
        sys.exit(1 if any(r.status == "failed" for r in results) else 0)
    md, html = _render(out, obj["disable"])
    progress.say(f"results: {out / 'results.jsonl'}\nreport:  {md}\n         {html}")
    _headline(out, planned_keys(bench_cfg, obj["disable"]), html, obj["quiet"])
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _headline(out: Path, keys: list[str], report: Path, quiet: bool) -> None:
    """The end-of-command summary on stdout: this command's runs, as the report shows them."""
    if quiet:
        return
    from greenprune.headline import print_headline
    from greenprune.results import ResultStore

    print_headline([r for r in ResultStore(out).load() if r.run_key in set(keys)], report)


def _render(out: Path, disable: list[str]) -> tuple[Path, Path]:
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager
    from greenprune.report import render_reports
    from greenprune.results import ResultStore

    return render_reports(ResultStore(out).load(), out, collect(make_plugin_manager(disable)))


@cli.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the report (default: the first DIR).")
@click.pass_obj
def report(obj: dict[str, Any], dirs: tuple[Path, ...], out: Path | None) -> None:
    """Re-render report.md and report.html from one or more results folders or files."""
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager
    from greenprune.report import render_reports
    from greenprune.results import load_results

    results = load_results(list(dirs))
    target = out or (dirs[0] if dirs[0].is_dir() else dirs[0].parent)
    md, html = render_reports(results, target, collect(make_plugin_manager(obj["disable"])))
    if not obj["quiet"]:
        click.echo(f"{len(results)} runs -> {md}, {html}")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.pass_obj
def verify(obj: dict[str, Any], out: Path) -> None:
    """Reload every student saved in OUT/models/ and check it scores what OUT/results.jsonl recorded.

    Each student is loaded the way a user would (through the plugins, adapters included), the
    run's dev data is rebuilt from its recorded config, and the metrics are compared. Exits 1 on
    any difference."""
    from greenprune.progress import Progress
    from greenprune.saved import verify_dir

    verdicts = verify_dir(out, disable=obj["disable"], progress=Progress(quiet=True))
    for v in verdicts:
        if v.error is not None:
            click.echo(f"{v.run_key}  {'FAILED':10}  {v.label}: {v.error}  [{v.path}]")
            continue
        metrics = "; ".join(f"{split}: " + ", ".join(f"{k}={x:.4f}" for k, x in m.items())
                            for split, m in v.reloaded.items())
        state = "identical" if v.identical else f"DIFFERENT (max diff {v.max_diff:.3g})"
        click.echo(f"{v.run_key}  {state:10}  {v.label}: {metrics}  [{v.path}]")
    if not all(v.identical for v in verdicts):
        sys.exit(1)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--format", "fmt", default="onnx", show_default=True, help="Export format (onnx).")
@click.option("--run", "run_key", help="Export only this run (its key or a unique prefix).")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), help="File to write (one run only).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Score the exported file on the run's dev data and compare with the recorded metrics.")
@click.pass_obj
def export(obj: dict[str, Any], out: Path, fmt: str, run_key: str | None, output: Path | None, check: bool) -> None:
    """Export the students saved in OUT/models/ (default: next to each, as model.onnx).

    Needs the onnx extra (pip install 'greenprune[onnx]'). Exits 1 when an exported student does
    not score what the run recorded (within 1e-4 for float32; an int8 student within its plugin's
    stated tolerance)."""
    from greenprune.export import export_dir
    from greenprune.progress import Progress

    done = export_dir(out, fmt, run_key=run_key, output=output, disable=obj["disable"],
                      progress=Progress(quiet=True), check=check)
    failed = False
    for path, v in done:
        if v is None:
            click.echo(f"{path}")
            continue
        metrics = "; ".join(f"{split}: " + ", ".join(f"{k}={x:.4f}" for k, x in m.items())
                            for split, m in v.reloaded.items())
        ok = v.identical
        failed |= not ok
        state = f"as recorded (within {v.tolerance:g})" if ok else f"DIFFERENT (max diff {v.max_diff:.3g})"
        click.echo(f"{v.run_key}  {state}  "
                   f"{v.label} in onnxruntime: {metrics}  [{path}]")
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def plugins(obj: dict[str, Any], name: str | None, as_json: bool) -> None:
    """List every plugin with its version, hooks and components; with NAME, one component's (or
    plugin's) description and options (type, default, help)."""
    from greenprune.plugin_listing import show_plugins
    from greenprune.plugins import describe_plugins, make_plugin_manager

    show_plugins(describe_plugins(make_plugin_manager(obj["disable"])), name, as_json)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def meters(obj: dict[str, Any], as_json: bool) -> None:
    """Show every energy meter and whether this machine can use it (and why)."""
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager

    rows = []
    for name, comp in sorted(collect(make_plugin_manager(obj["disable"])).by_kind["meter"].items()):
        meter = comp.build({})
        ok, why = meter.available()
        rows.append({"meter": name, "available": ok, "measured": bool(getattr(meter, "measured", True)),
                     "reason": why, "plugin": comp.plugin})
        meter.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "available" if r["available"] else "unavailable"
        kind = "measured" if r["measured"] else "estimate"
        click.echo(f"{r['meter']:14} {state:12} {kind:9} {r['reason']}")


@cli.command()
@click.option("--task", "tasks", multiple=True, help="Task axis, repeatable.")
@click.option("--chain", "chains", multiple=True, metavar="A+B",
              help="Compressor chain axis, repeatable: compressors joined by '+' (distill+cofi), or none; "
                   "CHAIN/TUNER (cofi/adapter) pins that chain's tuner instead of crossing it with --tuner.")
@click.option("--tuner", "tuners", multiple=True, help="Tuner axis, repeatable.")
@click.option("--sparsity", "sparsities", multiple=True, type=float,
              help="Sparsity axis, repeatable, in [0, 1); 0 = the chain without its pruning compressors.")
@click.option("--seed", "seeds", multiple=True, type=int, help="Seed axis, repeatable.")
@click.option("--vary", "vary", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Settings axis, repeatable: each adds one value of any config key (as --set takes it), e.g. "
                   "--vary distill.keep=[1,5] --vary distill.keep=[2,5]; different keys cross.")
@click.option("--teacher", help="minilm (default, embedded), a local model folder, or a Hub id.")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="GREENPRUNE_DATA_DIR",
              help="Folder with the task's files: the GLUE TSV layout, or SQuAD JSON (or env GREENPRUNE_DATA_DIR).")
@click.option("--meter", "meters", multiple=True, help="Energy meter, repeatable (default auto).")
@click.option("--epochs", type=float, help="Training epochs of every phase.")
@click.option("--max-train-samples", type=int, help="Subsample the training set (seeded).")
@click.option("--max-eval-samples", type=int, help="Subsample each dev split (seeded).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/sweep"), show_default=True,
              help="Output folder: results.jsonl, cells/ (config and log per cell), report.md, report.html.")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file: a run config plus a [sweep] table (tasks, chains, tuners, sparsities, seeds, "
                   "and a [sweep.vary] table of settings).")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any config value.")
@click.option("--shard", metavar="I/N", help="Run only the cells whose index modulo N is I (0 <= I < N).")
@click.option("--dry-run", is_flag=True, help="List the cells (validated) and exit.")
@click.option("--launcher", type=click.Choice(["local", "submitit", "submitit-local"]), default="local",
              show_default=True, help="Where cells run: here one by one; as a Slurm job array through submitit; or "
              "through submitit's local executor (all cells at once on this machine).")
@click.option("--job", "job_settings", multiple=True, metavar="KEY=VALUE",
              help="submitit executor setting, repeatable, e.g. --job slurm_partition=gpu --job gpus_per_node=1 "
                   "--job timeout_min=600 (default timeout 24 h).")
@click.pass_obj
def sweep(obj: dict[str, Any], tasks: tuple[str, ...], chains: tuple[str, ...], tuners: tuple[str, ...],
          sparsities: tuple[float, ...], seeds: tuple[int, ...], vary: tuple[str, ...], out: Path,
          config_file: Path | None, sets: tuple[str, ...], shard: str | None, dry_run: bool, launcher: str,
          job_settings: tuple[str, ...], **flags: Any) -> None:
    """Run a matrix of benches: tasks x chains x tuners x sparsities x settings (--vary) x seeds.

    Each cell runs in its own process (a crash is recorded, the sweep goes on); cells already
    finished in OUT are skipped; results from shards merge with greenprune report DIR1 DIR2."""
    from functools import partial

    from greenprune import sweep as matrix
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager
    from greenprune.preflight import check_out_dir
    from greenprune.progress import Progress
    from greenprune.report import render_reports
    from greenprune.results import ResultStore
    from greenprune.runner import reusable_keys
    from greenprune.sweep_cells import run_cell, run_cells
    from greenprune.sweep_launchers import make_executor, parse_job_settings, run_cells_submitit

    part = matrix.parse_shard(shard)
    axes: dict[str, Any] = {"tasks": tasks, "chains": chains, "tuners": tuners, "sparsities": sparsities,
                            "seeds": seeds, "vary": matrix.parse_vary(vary)}
    base, sweep_axes = matrix.load_plan(config_file, flags, list(sets), axes)
    pm = make_plugin_manager(obj["disable"])
    catalogue = collect(pm)
    cells = matrix.expand(base, sweep_axes, catalogue)
    matrix.validate_cells(cells, catalogue, pm)  # the whole matrix, before any cell runs
    mine = matrix.select_shard(cells, part)
    if job_settings and launcher == "local":
        raise UserError("--job sets submitit's executor: add --launcher submitit (or submitit-local)")
    executor = None if launcher == "local" else make_executor(launcher, out, parse_job_settings(job_settings))
    if dry_run:
        done = ResultStore(out).finished_keys()
        click.echo(f"{len(cells)} cells; shard {part[0]}/{part[1]}: {len(mine)} ({sum(c.key in done for c in mine)} "
                   f"finished in {out})")
        for c in mine:
            click.echo(f"{c.index:4d}  {c.key}  {'done   ' if c.key in done else 'pending'}  {c.label()}")
        return
    check_out_dir(out)
    progress = Progress(quiet=obj["quiet"])
    if any(c.config.task == "demo" for c in mine):
        progress.say("[yellow]task: demo, a small SYNTHETIC task bundled with greenprune (not a benchmark).[/yellow]")
    progress.say(f"sweep: {len(cells)} cells" + (f", shard {part[0]}/{part[1]}: {len(mine)}" if part[1] > 1 else ""))
    done = reusable_keys(ResultStore(out), [c.config for c in mine], pm, catalogue, progress)
    if launcher == "local":
        summary = run_cells(mine, out, progress, runner=partial(
            run_cell, disable=obj["disable"], on_wait=lambda msg: progress.say(f"[yellow]{msg}[/yellow]")), done=done)
    else:
        summary = run_cells_submitit(mine, out, progress, executor, disable=obj["disable"], done=done)
    # One result per run key (a failed cell that later succeeded counts once).
    md, html = render_reports(matrix.latest_per_key(ResultStore(out).load()), out, catalogue)
    progress.say(f"cells: {len(summary.ok)} ok, {len(summary.failed)} failed, {len(summary.skipped)} skipped\n"
                 f"results: {out / 'results.jsonl'}\nreport:  {md}\n         {html}")
    _headline(out, [c.key for c in mine], html, obj["quiet"])
    if summary.failed:
        sys.exit(1)


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM (kill, job runners, a sweep stopping its cell) like Ctrl-C while a command
    runs: the run in progress stops and every finished result stays in results.jsonl, instead of
    an abrupt exit. The previous handler comes back afterwards (``main`` may run in-process)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """greenprune's own warnings (a skipped results line) as one ``warning:`` line on stderr."""
    import warnings

    from greenprune.jsonl import SkippedLineWarning

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, SkippedLineWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> None:
    try:
        with _interrupt_on_sigterm(), _warnings_as_lines():
            cli.main(args=argv, prog_name="greenprune", standalone_mode=False)
    except UserError as exc:
        from greenprune.distributed import is_main

        if is_main():  # every process of a multi-process run finds the same error
            click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted; finished runs are kept in results.jsonl", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "greenprune"
        click.echo(f"error: {exc.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; finished runs are kept in results.jsonl", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
