"""Locks that outlive nothing: one per output folder and one per run (a sweep cell is a run).

Built on ``filelock``'s kernel ``flock``: the lock goes with its process, so a process killed with
SIGKILL (or the machine's out-of-memory killer) never leaves a stale lock behind, and a lock that
is still held means a live process holds it (an orphaned sweep cell whose parent died, a second
bench into the same folder). Beside each lock a small ``.owner`` file says who holds it (pid,
host, since when, what for) so a waiting process can name it; that file is only a label, the
lock itself is the truth.

- :func:`run_lock` is held for the whole of one run, by the process running it (the bench, or a
  sweep cell's bench). A second process wanting the same run waits for it, then finds the run
  finished and skips it; a sweep asks :func:`held_by` first and leaves a cell that is running
  elsewhere alone.
- a sweep holds the cell's lock (:func:`cell_lock_path`) from before it starts the cell's process
  and hands it to that process, so a cell orphaned by a killed sweep still holds it: a re-run of
  the sweep finds it held and does not start the cell beside it.
- :func:`folder_lock` is held for moments only: one append to ``results.jsonl``.

Reusable by anything that must not run twice at once (e.g. a teacher cache entry).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: the hidden folder of an output folder that holds its lock files
LOCKS_DIR = ".locks"


def run_lock_path(out_dir: Path, run_key: str) -> Path:
    return Path(out_dir) / LOCKS_DIR / f"run-{run_key}.lock"


def folder_lock_path(out_dir: Path) -> Path:
    return Path(out_dir) / LOCKS_DIR / "folder.lock"


def cell_lock_path(out_dir: Path, run_key: str) -> Path:
    return Path(out_dir) / LOCKS_DIR / f"cell-{run_key}.lock"


def _secondary_rank() -> bool:
    """A non-main process of a multi-process launch (torchrun, accelerate): the main process
    holds the locks for the group, and a rank waiting on its own main process would deadlock."""
    return os.environ.get("RANK", "0").strip() not in ("", "0")


def _owner_file(lock: Path) -> Path:
    return lock.with_name(lock.name + ".owner")


def owner(lock: Path) -> dict[str, Any]:
    """What the ``.owner`` label of ``lock`` says (empty when there is none or it is unreadable)."""
    try:
        data = json.loads(_owner_file(lock).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict[str, Any]) -> str:
    """``pid 123 on host since 2026-...`` or ``another process``."""
    if not info.get("pid"):
        return "another process"
    return f"pid {info['pid']} on {info.get('host', '?')} since {info.get('since', '?')}"


def held_by(lock: Path) -> dict[str, Any] | None:
    """None when nobody holds ``lock`` now, else its owner label (possibly empty). A snapshot:
    whoever then acts on a free lock still takes it with :func:`hold`."""
    from filelock import FileLock, Timeout

    if not lock.exists():
        return None
    probe = FileLock(lock, thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return owner(lock)
    probe.release()
    return None


@contextlib.contextmanager
def hold(lock: Path, what: str, *, timeout: float = -1,
         on_wait: Callable[[str], None] | None = None) -> Iterator[int | None]:
    """Hold ``lock`` exclusively for the ``with`` block; wait for a holder (``timeout`` seconds,
    -1 = as long as it takes; Ctrl-C still interrupts), calling ``on_wait`` once with who it is.

    Yields the lock's file descriptor: a child process started with it (``pass_fds``) shares the
    lock, which then stays held while the child lives, even if this process is killed.

    :raises filelock.Timeout: when ``timeout`` ran out.
    """
    from filelock import FileLock, Timeout

    if _secondary_rank():
        yield None
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fds: list[int] = []
    flock = FileLock(lock, thread_local=False, on_acquired=fds.append)
    try:
        flock.acquire(timeout=0)
    except Timeout:
        if timeout == 0:
            raise
        if on_wait is not None:
            on_wait(f"{what} is held by {describe(owner(lock))}; waiting for it")
        flock.acquire(timeout=timeout)
    label = _owner_file(lock)
    try:
        label.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                                     "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}),
                         encoding="utf-8")
        yield fds[-1] if fds else None
    finally:
        with contextlib.suppress(OSError):
            label.unlink()
        flock.release()


def run_lock(out_dir: Path, run_key: str, *, on_wait: Callable[[str], None] | None = None) -> Any:
    """The lock a process holds while it runs ``run_key`` into ``out_dir`` (see the module doc)."""
    return hold(run_lock_path(out_dir, run_key), f"run {run_key} in {out_dir}", on_wait=on_wait)


def folder_lock(out_dir: Path) -> Any:
    """The short lock around one write to the shared files of ``out_dir`` (``results.jsonl``)."""
    return hold(folder_lock_path(out_dir), f"writing to {out_dir}")
