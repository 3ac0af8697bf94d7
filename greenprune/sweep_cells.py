"""Running sweep cells: each one a ``greenprune bench`` subprocess given its config as JSON data.

A subprocess per cell is the isolation boundary: a segfault, a CUDA error that poisons the
process, or the kernel's out-of-memory killer ends that cell only. The child writes its own
result line when it gets that far; when it dies first, the parent writes a failed one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from greenprune.results import RESULTS_FILE, ResultStore, RunResult

if TYPE_CHECKING:
    from greenprune.progress import Progress
    from greenprune.sweep import Cell

CELLS_DIR = "cells"
#: how the parent starts a cell; tests swap in a command that fails on purpose
DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "greenprune")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ---------------------------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------------------------


@dataclass
class CellOutcome:
    status: str  # "ok" or "failed"
    error: str | None = None


def cell_config_json(cell: Cell, out_dir: Path) -> tuple[Path, str]:
    """The cell's config as JSON (what its process receives with ``bench --config-json``), checked
    to read back as the very same run (same run key), since resuming and merging shards both rely
    on that key; also recorded as ``OUT/cells/<run key>.json`` (``bench --config`` reads it)."""
    from greenprune.config import build_config

    text = json.dumps(cell.config.model_dump(mode="json"), sort_keys=True)
    runs = build_config(json.loads(text)).runs()
    if len(runs) != 1 or runs[0].run_key() != cell.key:
        raise RuntimeError(f"cell {cell.key} does not read back as the same run (a greenprune bug)")
    path = Path(out_dir) / CELLS_DIR / f"{cell.key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path, text


def run_cell(cell: Cell, out_dir: Path, *, disable: Sequence[str] = (),
             command: Sequence[str] = DEFAULT_COMMAND, on_wait: Callable[[str], None] | None = None) -> CellOutcome:
    """Run one cell as ``greenprune bench --config-json CONFIG --out OUT`` (the config as data: no
    file is read back to build it); its output goes to ``OUT/cells/<key>.log``. Returns what the
    results file says about it afterwards."""
    from greenprune import locks

    out_dir = Path(out_dir)
    # The cell's lock, held from before its process starts and handed to it (pass_fds): a cell
    # orphaned by a killed sweep keeps it, so no re-run starts the same cell beside it.
    with locks.hold(locks.cell_lock_path(out_dir, cell.key), f"sweep cell {cell.key}",
                    on_wait=on_wait) as fd:
        if cell.key in ResultStore(out_dir).finished_keys():
            return CellOutcome("ok", None)  # finished meanwhile by the process that held the cell
        return _run_cell_process(cell, out_dir, disable, command, () if fd is None else (fd,))


def _run_cell_process(cell: Cell, out_dir: Path, disable: Sequence[str], command: Sequence[str],
                      pass_fds: tuple[int, ...]) -> CellOutcome:
    config, text = cell_config_json(cell, out_dir)
    log = config.with_suffix(".log")
    results = out_dir / RESULTS_FILE
    offset = results.stat().st_size if results.exists() else 0
    args = [*command, *(a for name in disable for a in ("--disable", name)), "bench", "--config-json", text,
            "--out", str(out_dir)]
    started = _now()
    with open(log, "a", encoding="utf-8") as fh:
        shown = [str(config) if a == text else a for a in args]  # the config itself is in the .json record
        fh.write(f"=== {started} {' '.join(shown)}\n")
        fh.flush()
        # Same working directory and environment as the sweep: relative data paths resolve the
        # same way and every cell finds the same teacher cache (GREENPRUNE_CACHE or cache_dir).
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=os.getcwd(),
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, pass_fds=pass_fds)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            # A Ctrl-C at a terminal reaches the child too, but a SIGTERM (a job runner, kill) or
            # SIGINT sent to the sweep alone does not: pass it on (the child turns SIGTERM into
            # its own interrupt, see cli.main), give it a moment to exit, then make sure it does.
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()  # reap it: no zombie left behind
            raise
    mine = [r for r in _appended(results, offset) if r.run_key == cell.key]
    if mine:  # the child recorded the run itself (ok, or failed with its own error)
        return CellOutcome(mine[-1].status, mine[-1].error)
    if code == 0 and cell.key in ResultStore(out_dir).finished_keys():
        return CellOutcome("ok", None)  # the child waited for another process that finished the run
    error = f"cell process {_describe_exit(code)}; last output: {_tail(log)} (log: {log})"
    ResultStore(out_dir).append(RunResult(
        run_key=cell.key, status="failed", error=error, started_at=started, finished_at=_now(),
        config=cell.config.model_dump(mode="json"),
        extra={"sweep": {"cell": cell.index, "exit_code": code, "log": str(log), "config_file": str(config)}}))
    return CellOutcome("failed", error)


def _appended(results: Path, offset: int) -> list[RunResult]:
    if not results.exists():
        return []
    with open(results, "rb") as fh:
        fh.seek(offset)
        tail = fh.read().decode("utf-8", errors="replace")
    out = []
    for line in tail.splitlines():
        try:
            out.append(RunResult.model_validate(json.loads(line)))
        except ValueError:  # a torn line from a killed child (JSONDecodeError is a ValueError)
            continue
    return out


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (often the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{why}"
    if code == 2:
        return "stopped on a user error (exit code 2)"
    return f"exited with code {code}"


def _tail(log: Path, lines: int = 3, limit: int = 600) -> str:
    text = _ANSI.sub("", log.read_text(encoding="utf-8", errors="replace"))
    last = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("=== ")][-lines:]
    joined = " | ".join(last) or "(none)"
    return joined if len(joined) <= limit else "…" + joined[-limit:]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# The sweep loop
# ---------------------------------------------------------------------------------------------


@dataclass
class SweepSummary:
    skipped: list[Cell] = field(default_factory=list)
    ok: list[Cell] = field(default_factory=list)
    failed: list[Cell] = field(default_factory=list)


CellRunner = Callable[["Cell", Path], CellOutcome]


def run_cells(cells: list[Cell], out_dir: Path, progress: Progress,
              runner: CellRunner | None = None, done: set[str] | None = None) -> SweepSummary:
    """Run every cell not already finished (status ok) in ``out_dir`` (or not in ``done``, the
    reusable keys), one after the other; a failed cell is recorded and the next one starts."""
    from greenprune import locks

    runner = runner or run_cell
    if done is None:
        done = ResultStore(out_dir).finished_keys()
    summary = SweepSummary(skipped=[c for c in cells if c.key in done])
    todo = [c for c in cells if c.key not in done]
    if summary.skipped:
        progress.say(f"[green]{len(summary.skipped)} of {len(cells)} cells already finished in "
                     f"{Path(out_dir) / RESULTS_FILE}, skipped[/green]")
    # A cell that another process runs now (orphaned by a killed sweep, another shard, a bench)
    # goes last: the rest run meanwhile, then the runner waits for it and finds it finished.
    busy = []
    for cell in todo:
        holder = next((h for h in (locks.held_by(locks.cell_lock_path(out_dir, cell.key)),
                                   locks.held_by(locks.run_lock_path(out_dir, cell.key))) if h is not None), None)
        if holder is not None:
            busy.append(cell)
            progress.say(f"[yellow]cell #{cell.index} is running in another process ({locks.describe(holder)}); "
                         "not starting it again, it goes last[/yellow]")
    todo = [c for c in todo if c not in busy] + busy
    with progress.bar("sweep cells", len(todo)) as advance:
        for n, cell in enumerate(todo, 1):
            progress.say(f"[bold]cell {n}/{len(todo)} (#{cell.index}): {cell.label()}[/bold]")
            outcome = runner(cell, Path(out_dir))
            if outcome.status == "ok":
                summary.ok.append(cell)
            else:
                summary.failed.append(cell)
                progress.say(f"[red]cell #{cell.index} failed: {outcome.error}[/red]")
            advance(1, ok=len(summary.ok), failed=len(summary.failed))
    return summary
