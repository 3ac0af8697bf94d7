"""Where sweep cells run: here one after the other (``--launcher local``, the default), or as jobs
of a scheduler through submitit (``--launcher submitit``: a Slurm job array;
``--launcher submitit-local``: submitit's local executor, the same code path on one machine).

Every launcher runs each cell with :func:`greenprune.sweep_cells.run_cell` (a ``greenprune bench``
subprocess writing ``OUT/cells/<key>.log``, a failed result when it dies), so logs, resume (cells
already ok in ``OUT/results.jsonl`` are not submitted), failure records and the teacher cache (its
lock makes concurrent cells wait for one fine-tune) behave the same whichever runs them. submitit
was chosen over Ray because a Slurm job array is what clusters that run GPU-days of BERT sweeps
have, and submitit needs no cluster service of its own; ``--shard i/n`` stays for any other
job runner.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.errors import UserError
from greenprune.results import ResultStore, RunResult

if TYPE_CHECKING:
    from greenprune.progress import Progress
    from greenprune.sweep import Cell
    from greenprune.sweep_cells import SweepSummary

LAUNCHERS = ("local", "submitit", "submitit-local")
SUBMITIT_DIR = "submitit"
#: submitit's own default is a few minutes, far too short for a fine-tune
DEFAULT_TIMEOUT_MIN = 24 * 60


def parse_job_settings(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["slurm_partition=gpu", "timeout_min=600"]`` -> settings for submitit's executor
    (values read as ``--set`` reads them)."""
    from greenprune.config import parse_set

    out: dict[str, Any] = {}
    for item in items:
        try:
            path, value = parse_set(item)
        except UserError:
            raise UserError(f"bad --job {item!r}: expected key=value, e.g. --job slurm_partition=gpu") from None
        out[".".join(path)] = value
    return out


def make_executor(launcher: str, out_dir: Path, settings: dict[str, Any]) -> Any:
    """submitit's executor for ``launcher``, its settings checked (a bad one is a user error, before
    any cell is submitted)."""
    if launcher == "submitit" and shutil.which("sbatch") is None:
        raise UserError("--launcher submitit submits to Slurm, and there is no sbatch here; on one machine use "
                        "--launcher submitit-local (or the default local launcher)")
    try:
        import submitit
    except ImportError:
        raise UserError(f"--launcher {launcher} needs submitit: pip install submitit") from None
    executor = submitit.AutoExecutor(folder=Path(out_dir) / SUBMITIT_DIR / "%j",
                                     cluster="local" if launcher == "submitit-local" else "slurm")
    try:
        executor.update_parameters(**{"timeout_min": DEFAULT_TIMEOUT_MIN, "name": "greenprune-cell", **settings})
    except (ValueError, TypeError, NameError) as exc:  # submitit names an unknown setting with NameError
        raise UserError(f"bad --job setting: {str(exc).splitlines()[0]} (submitit's settings: timeout_min, "
                        "gpus_per_node, cpus_per_task, mem_gb, nodes, tasks_per_node, or slurm_*, e.g. "
                        "slurm_partition)") from None
    return executor


def run_cells_submitit(cells: list[Cell], out_dir: Path, progress: Progress, executor: Any, *,
                       disable: list[str], done: set[str] | None = None) -> SweepSummary:
    """Submit the cells not already ok in ``out_dir`` as one job array and wait for them all.

    An interrupt cancels the jobs still pending or running (finished cells keep their results);
    a job the scheduler ends (timeout, preemption, node failure) before its cell wrote a result
    gets a failed result naming the job and its logs."""
    from greenprune.sweep_cells import SweepSummary, run_cell

    done = ResultStore(out_dir).finished_keys() if done is None else done  # reusable keys, when given
    summary = SweepSummary(skipped=[c for c in cells if c.key in done])
    todo = [c for c in cells if c.key not in done]
    if summary.skipped:
        progress.say(f"[green]{len(summary.skipped)} of {len(cells)} cells already finished in {out_dir}, "
                     "skipped[/green]")
    if not todo:
        return summary
    with _interruptible_children():
        jobs = executor.map_array(partial(run_cell, disable=disable), todo, [Path(out_dir)] * len(todo))
    progress.say(f"submitted {len(jobs)} cells as job array {jobs[0].job_id.split('_')[0]} "
                 f"(submitit logs: {Path(out_dir) / SUBMITIT_DIR})")
    try:
        with progress.bar("sweep cells", len(todo)) as advance:
            for cell, job in zip(todo, jobs, strict=True):
                outcome = _outcome(cell, job, out_dir)
                (summary.ok if outcome.status == "ok" else summary.failed).append(cell)
                if outcome.status != "ok":
                    progress.say(f"[red]cell #{cell.index} failed: {outcome.error}[/red]")
                advance(1, ok=len(summary.ok), failed=len(summary.failed))
    except KeyboardInterrupt:
        finished = ResultStore(out_dir).finished_keys()
        unfinished = [job for cell, job in zip(todo, jobs, strict=True) if cell.key not in finished]
        for job in unfinished:
            job.cancel(check=False)
        progress.say(f"[yellow]interrupted: cancelled the jobs of {len(unfinished)} unfinished cells[/yellow]")
        raise
    return summary


@contextmanager
def _interruptible_children() -> Iterator[None]:
    """Start processes that a SIGINT interrupts, even when this one ignores SIGINT.

    submitit's local executor cancels a job by sending SIGINT to its controller process, and a
    process inherits an ignored SIGINT: a sweep started in the background by a non-interactive shell
    (``nohup greenprune sweep ... &``, a CI script) ignores it, so its controllers did too, and an
    interrupted sweep left its "cancelled" cells running to the end. A Python handler is reset to the
    default on exec, so installing one while the controllers start gives them the normal
    KeyboardInterrupt; this process gets its own disposition back afterwards."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _outcome(cell: Cell, job: Any, out_dir: Path) -> Any:
    from greenprune.sweep_cells import CellOutcome, _now

    try:
        return job.result()
    except Exception as exc:  # the job itself ended without returning (timeout, cancel, node failure)
        mine = [r for r in ResultStore(out_dir).load() if r.run_key == cell.key and r.status == "ok"]
        if mine:
            return CellOutcome("ok")
        error = (f"job {job.job_id} ended before its cell recorded a result: {str(exc).strip().splitlines()[-1]} "
                 f"(logs: {job.paths.stdout.parent})")
        ResultStore(out_dir).append(RunResult(
            run_key=cell.key, status="failed", error=error, started_at=_now(), finished_at=_now(),
            config=cell.config.model_dump(mode="json"),
            extra={"sweep": {"cell": cell.index, "job_id": str(job.job_id)}}))
        return CellOutcome("failed", error)
