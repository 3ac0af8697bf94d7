"""Progress bars and run messages (rich); quiet mode prints nothing but errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._console: Any = None
        self._bars: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, quiet=self.quiet)
        return self._console

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def _log_lines(self, description: str, total: int | None) -> Any:
        import time

        state = {"done": 0, "t0": time.perf_counter()}
        every = max(1, (total or 10) // 10)

        def advance(n: int = 1, **fields: Any) -> None:
            state["done"] += n
            if state["done"] % every == 0 or state["done"] == total:
                info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
                elapsed = time.perf_counter() - state["t0"]
                self.say(f"{description}: {state['done']}/{total or '?'} ({elapsed:.0f} s) {info}")

        return advance

    @contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Any]:
        """A progress bar; yields ``advance(n=1, **fields)``. Nested bars share one display."""
        if self.quiet:
            yield lambda n=1, **_: None
            return
        if not self.console.is_terminal:
            # Logs (CI, Slurm, nohup) get a plain line every tenth of the way instead of a live bar.
            yield self._log_lines(description, total)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        owner = self._bars is None
        if owner:
            self._bars = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                console=self.console, transient=False,
            )
            self._bars.start()
        task_id = self._bars.add_task(description, total=total, info="")
        bars = self._bars

        def advance(n: int = 1, **fields: Any) -> None:
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            bars.update(task_id, advance=n, info=info)

        try:
            yield advance
        finally:
            if owner:
                self._bars.stop()
                self._bars = None
            else:
                bars.remove_task(task_id)
