"""Labels the built-in sections share, so every section names a group and a run alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenprune.api import Doc
from greenprune.api import report_facts as facts
from greenprune.api import report_markup as fmt_

if TYPE_CHECKING:
    from greenprune.api import RunResult


def group_heading(key: facts.GroupKey, runs: list[RunResult]) -> str:
    """``Teacher T on TASK (title)``: the heading of one (teacher, task) group."""
    title = next((r.task.get("title") for r in runs if r.task.get("title")), None)
    task = f"{key[1]} ({title})" if title and title != key[1] else key[1]
    return f"Teacher {key[0]} on {task}"


def run_heading(r: RunResult, group: list[RunResult]) -> str:
    """``variant, sparsity S (run KEY)``: one run of ``group`` as a table heading."""
    s = facts.target_sparsity(r)
    sparsity = f", sparsity {fmt_.percent(s)}" if s is not None else ""
    return f"{facts.variant(r, group)}{sparsity} (run {r.run_key})"


def no_runs(doc: Doc) -> str:
    return doc.para("No runs.", note=True).render()
