"""Defaults that come from the components, not from the core.

* A pruning chain without ``--sparsity`` takes the targets its pruning compressor declares
  (``Component.default_sparsities``).
* A task may declare config values it runs best with (``Task.config_defaults``, e.g. the embedded
  demo task's batch size); they fill in whatever the user did not set.

``resolve`` applies both, for ``bench`` (``run_bench``) and for the CLI's list of planned runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenprune.errors import UserError

if TYPE_CHECKING:
    from greenprune.components import Catalogue
    from greenprune.config import BenchConfig


def default_sparsities(chain: list[str], catalogue: Catalogue) -> list[float]:
    """The targets of the chain's first pruning compressor; empty when the chain does not prune.

    A pruner that declares none needs an explicit target: say so before any work."""
    for name in chain:
        component = catalogue.get("compressor", name)
        if component.needs_sparsity:
            if not component.default_sparsities:
                raise UserError(f"--compressor {name} needs a target: add --sparsity S (S in (0, 1), e.g. 0.6)")
            return list(component.default_sparsities)
    return []


def task_defaults(bench: BenchConfig, task: str, catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """The config values ``task`` declares, per section, that ``bench`` did not set explicitly
    (pydantic's ``model_fields_set``: a flag, TOML key or ``--set`` counts as set)."""
    declared = getattr(catalogue.get("task", task).build(bench.options.get(task)), "config_defaults", {}) or {}
    out: dict[str, dict[str, Any]] = {}
    for section, values in declared.items():
        current = getattr(bench, section)
        unset = {k: v for k, v in values.items() if k not in current.model_fields_set}
        if unset:
            out[section] = unset
    return out


def resolve(bench: BenchConfig, catalogue: Catalogue) -> tuple[BenchConfig, list[str]]:
    """``bench`` with the task's config defaults and the pruner's default sparsities filled in where
    the user gave none, and one line per default applied (to tell the user)."""
    notes = []
    found = task_defaults(bench, bench.task, catalogue)
    if found:
        from pydantic import ValidationError

        try:
            sections = {s: type(getattr(bench, s)).model_validate({**getattr(bench, s).model_dump(), **v})
                        for s, v in found.items()}
        except (ValidationError, AttributeError) as exc:
            raise UserError(f"task {bench.task!r} declares a bad config default {found}: {exc}".splitlines()[0]
                            + " (a bug in the task's plugin; override the value with --set)") from None
        bench = bench.model_copy(update=sections)
        shown = ", ".join(f"{s}.{k}={v}" for s, vals in found.items() for k, v in vals.items())
        notes.append(f"task {bench.task} runs with its own defaults {shown} (override with --set)")
    if not bench.sparsity:
        targets = default_sparsities(list(bench.compressors), catalogue)
        if targets:
            bench = bench.model_copy(update={"sparsity": targets})
            notes.append(f"no --sparsity given: {'+'.join(bench.compressors)} runs at its default targets "
                         f"{', '.join(f'{s:g}' for s in targets)}")
    return bench, notes


def planned_keys(bench: BenchConfig, disable: list[str]) -> list[str]:
    """The run keys a bench computes, its defaults filled in as ``run_bench`` does."""
    from greenprune.components import collect
    from greenprune.plugins import make_plugin_manager

    resolved, _ = resolve(bench, collect(make_plugin_manager(disable)))
    return [cfg.run_key() for cfg in resolved.runs()]
