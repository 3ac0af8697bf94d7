"""The headline printed at the end of every ``bench`` and ``sweep``: per student, how much of the
teacher's metric it kept, how much faster and smaller it is, the energy it saves per inference
example (with the method label) and when that pays back its compression, then where the report is.

It reads only results (the same ones the report renders), so the terminal and the report agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report import facts
from greenprune.report import markup as fmt

if TYPE_CHECKING:
    from rich.console import Console

    from greenprune.results import RunResult

HEADERS = ("student", "metric kept", "speed-up", "size of teacher", "J/example saved", "pays back after")


def _kept(r: RunResult) -> str:
    metric, splits = facts.primary_metric(r), list(r.teacher.metrics)
    if metric is None or not splits:
        return fmt.MISSING
    share = facts.metric_kept(r, r.student, splits[0])
    if share is None:
        return fmt.MISSING
    t, s = facts.value(r.teacher, splits[0], metric), facts.value(r.student, splits[0], metric)
    return f"{share:.1%} ({s:.3f}/{t:.3f} {metric})"


def _size(r: RunResult) -> str:
    t, s = r.teacher.size, r.student.size
    if t is None or s is None:
        return fmt.MISSING
    if t.bytes_on_disk and s.bytes_on_disk:
        ratio, what = s.bytes_on_disk / t.bytes_on_disk, "on disk"
    elif t.total_params:
        ratio, what = s.total_params / t.total_params, "params"
    else:
        return fmt.MISSING
    sparsity = facts.measured_sparsity(r.student)
    return f"{ratio:.0%} {what}" + (f", sparsity {sparsity:.1%}" if sparsity else "")


def _energy(r: RunResult) -> tuple[str, str]:
    """(J per example saved, payback) of the first meter source, each with its method label."""
    from greenprune.payback import payback, payback_text

    found = payback(r)
    if not found:
        return fmt.MISSING, fmt.MISSING
    pb = found[0]
    saved = fmt.MISSING if pb.saved_per_example_j is None else (
        f"{fmt.joules(pb.saved_per_example_j, pb.method)} ({pb.method})")
    if pb.examples is None:
        return saved, payback_text(pb).split(":")[0]
    low = fmt.MISSING if pb.examples_low is None else f"{pb.examples_low:,.0f}"
    high = "never" if pb.examples_high is None else f"{pb.examples_high:,.0f}"
    return saved, f"{pb.examples:,.0f} examples [{low}–{high}] ({pb.method})"


def rows(results: list[RunResult]) -> list[list[str]]:
    out = []
    groups = facts.grouped(results)
    for (teacher, task), group in groups.items():
        labels = facts.variants(group)
        # Name the teacher and task only when the command covered more than one of them.
        prefix = f"{task} ({teacher}): " if len(groups) > 1 else ""
        for r in group:
            s = facts.target_sparsity(r)
            name = prefix + labels[r.run_key] + (f" @ {s:g}" if s is not None else "")
            if r.status != "ok":
                out.append([name, "FAILED", fmt.MISSING, fmt.MISSING, fmt.MISSING, (r.error or "")[:60]])
                continue
            up = facts.speedup(r, r.student)
            out.append([name, _kept(r), fmt.MISSING if up is None else f"{up:.2f}×", _size(r), *_energy(r)])
    return out


def print_headline(results: list[RunResult], report: Path, console: Console | None = None) -> None:
    """Print the headline table (rich) and the report's location."""
    from rich.console import Console
    from rich.table import Table

    con: Any = console if console is not None else Console()
    if console is None and not con.is_terminal:
        con = Console(width=200)  # a log or pipe: one row per student, not folded to 80 columns
    groups = list(facts.grouped(results))
    what = f" ({groups[0][0]} on {groups[0][1]})" if len(groups) == 1 else ""
    table = Table(title=f"greenprune: what compression bought{what}; speed-up and energy within each run",
                  title_justify="left")
    for h in HEADERS:
        table.add_column(h, overflow="fold")
    for row in rows(results):
        table.add_row(*row)
    con.print(table)
    con.print(f"report: {report}", soft_wrap=True)
