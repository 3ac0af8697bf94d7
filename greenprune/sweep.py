"""Sweeps: one command runs a matrix tasks x compressor chains x tuners x sparsities x settings x
seeds, where *settings* are any config values varied with ``--vary`` (``distill.keep``, ``train.learning_rate``).

The matrix is expanded and validated whole before any work (one-line errors, as ``bench``). Each
cell then runs as its own ``greenprune bench`` subprocess (see :mod:`greenprune.sweep_cells`), so
a crash or an out-of-memory kill costs that cell only: it is recorded as a failed result and the
sweep goes on. Cells whose run key is already in ``OUT/results.jsonl`` with status ok are skipped,
and ``--shard i/n`` keeps the cells whose index (in the stable matrix order) is ``i`` modulo
``n``, so any job runner can split one matrix across machines.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from greenprune.config import (
    MAX_SEED,
    BenchConfig,
    RunConfig,
    apply_setting,
    build_config,
    config_error,
    load_config_file,
    parse_set,
)
from greenprune.defaults import default_sparsities, task_defaults
from greenprune.errors import UserError
from greenprune.results import latest_per_key

if TYPE_CHECKING:
    from greenprune.components import Catalogue

__all__ = ["Cell", "SweepAxes", "expand", "latest_per_key", "load_plan", "parse_chain", "parse_pipeline",
           "parse_shard", "parse_vary", "select_shard", "validate_cells"]

#: config fields that have their own axis (or fix what a cell is): not for --vary
_AXIS_FIELDS = {"task": "--task", "compressors": "--chain", "tuner": "--tuner", "sparsity": "--sparsity",
                "seed": "--seed"}


class SweepAxes(BaseModel):
    """The ``[sweep]`` table (or the repeatable CLI flags): every axis of the matrix.

    An axis left out falls back to the run config's single value (``task``, ``compressors``,
    ``tuner``, ``sparsity``, ``seed``)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[str] | None = Field(None, min_length=1)
    #: "distill+cofi" or ["distill", "cofi"]; "none" alone means no compression; "cofi/adapter"
    #: pins the tuner for that chain (instead of crossing it with every tuner)
    chains: list[str | list[str]] | None = Field(None, min_length=1)
    tuners: list[str] | None = Field(None, min_length=1)
    #: 0 is allowed here and means "dense": the chain without its pruning compressors
    sparsities: list[float] | None = Field(None, min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] | None = Field(None, min_length=1)
    #: any other config value: ``section.key`` -> the values to try (``[sweep.vary]`` in TOML,
    #: ``--vary section.key=value`` repeated on the command line); several keys cross
    vary: dict[str, list[Any]] | None = None

    @field_validator("vary", mode="before")
    @classmethod
    def _flatten(cls, v: Any) -> Any:
        """TOML spells ``distill.keep`` as a quoted key or as a nested table ([sweep.vary.distill]):
        both become ``{"distill.keep": [...]}``."""
        if not isinstance(v, dict):
            return v
        flat: dict[str, Any] = {}
        for key, value in v.items():
            if isinstance(value, dict):
                for sub, values in cls._flatten(value).items():
                    flat[f"{key}.{sub}"] = values
            else:
                flat[str(key)] = value
        return flat

    @field_validator("vary")
    @classmethod
    def _settings(cls, v: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        for key, values in (v or {}).items():
            section = key.split(".")[0]
            if section in _AXIS_FIELDS:
                raise ValueError(f"{key!r} has its own axis; use {_AXIS_FIELDS[section]} (or [sweep] "
                                 f"{'chains' if section == 'compressors' else section + 's'})")
            if "." not in key and section not in BenchConfig.model_fields:
                raise ValueError(f"{key!r} is neither section.key (e.g. distill.keep, train.learning_rate) nor "
                                 "a config key (e.g. teacher)")
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key!r} needs a non-empty list of values, e.g. [[1, 5], [2, 5]]")
        return v

    @field_validator("sparsities")
    @classmethod
    def _in_range(cls, v: list[float] | None) -> list[float] | None:
        for s in v or []:
            if not 0 <= s < 1:
                raise ValueError(f"sparsity {s} is outside [0, 1); e.g. 0.6 (0 = the dense model)")
        return v


def parse_vary(items: list[str] | tuple[str, ...]) -> dict[str, list[Any]]:
    """``["distill.keep=[1,5]", "distill.keep=[2,5]"]`` -> ``{"distill.keep": [[1, 5], [2, 5]]}``:
    each ``--vary`` adds one value to its key's axis (values read as ``--set`` reads them)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        try:
            path, value = parse_set(item)
        except UserError:
            raise UserError(f"bad --vary {item!r}: expected section.key=value, e.g. --vary distill.keep=[1,5]") \
                from None
        out.setdefault(".".join(path), []).append(value)
    return out


def parse_chain(spec: str | list[str]) -> list[str]:
    """``"distill+cofi"`` -> ``["distill", "cofi"]``; an empty part is a user error."""
    parts = [p.strip() for p in spec.split("+")] if isinstance(spec, str) else [str(p).strip() for p in spec]
    if not parts or not all(parts):
        raise UserError(f"bad chain {spec!r}: compressors joined by '+', e.g. --chain distill+cofi (or none)")
    return parts


def parse_pipeline(spec: str | list[str]) -> tuple[list[str], str | None]:
    """``"distill+cofi/finetune"`` -> ``(["distill", "cofi"], "finetune")``: a chain with its tuner
    pinned, so a study can name exactly the pipelines it compares (cofi/finetune, cofi/adapter,
    distill+cofi/finetune) rather than the full chains x tuners product. Without ``/`` the tuner is
    ``None`` (crossed with the tuners axis)."""
    if isinstance(spec, str) and "/" in spec:
        chain, _, tuner = spec.partition("/")
        if not tuner.strip() or "/" in tuner:
            raise UserError(f"bad chain {spec!r}: write CHAIN/TUNER with one tuner, e.g. cofi/adapter")
        return parse_chain(chain), tuner.strip()
    return parse_chain(spec), None


@dataclass(frozen=True)
class Cell:
    """One run of the matrix, at its stable position ``index``."""

    index: int
    config: RunConfig
    #: the chain as the sweep asked for it (differs from the config's at sparsity 0)
    requested: tuple[str, ...]
    #: the ``--vary`` values of this cell, spelt ``section.key=value``
    settings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.config.run_key()

    def label(self) -> str:
        c = self.config
        sparsity = "" if c.sparsity is None else f" @ sparsity {c.sparsity:g}"
        dense = " (dense point of " + "+".join(self.requested) + ")" if list(self.requested) != c.compressors else ""
        varied = f" [{', '.join(self.settings)}]" if self.settings else ""
        return f"{c.task} {'+'.join(c.compressors)} / {c.tuner}{sparsity}{varied} seed {c.seed}{dense}"


def load_plan(config_file: Path | None, flags: dict[str, Any], sets: list[str],
              axes: dict[str, list[Any]]) -> tuple[BenchConfig, SweepAxes]:
    """The base run config (TOML < flags < ``--set``, exactly as ``bench`` reads it) and the axes
    (a non-empty CLI list replaces the ``[sweep]`` one; an axis in neither falls back to the base)."""
    raw = load_config_file(config_file) if config_file else {}
    table = raw.pop("sweep", {})
    if not isinstance(table, dict):
        raise UserError(f"[sweep] in {str(config_file)!r} must be a table, e.g. [sweep] tasks = [\"rte\"]")
    merged = {**table, **{k: (v if isinstance(v, dict) else list(v)) for k, v in axes.items() if v}}
    try:
        sweep = SweepAxes.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "sweep"
        if err["type"] == "extra_forbidden":
            raise UserError(f"unknown [sweep] key {loc!r}; valid: {', '.join(SweepAxes.model_fields)}") from None
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"bad sweep value for {loc!r}: {msg} (got {err.get('input')!r})") from None
    # The rest of the file is a plain run config: the same merge order and the same one-line
    # errors as bench.
    return build_config(raw, flags, sets), sweep


def expand(base: BenchConfig, axes: SweepAxes, catalogue: Catalogue) -> list[Cell]:
    """Every cell in a stable order (task, chain, tuner, sparsity, varied settings, seed),
    duplicates dropped.

    A chain without a pruning compressor is one cell with sparsity None whatever the sparsities;
    a pruning chain gets one cell per sparsity, and at sparsity 0 it drops its pruning
    compressors (``cofi`` becomes ``none``, ``distill+cofi`` becomes ``distill``), the dense point
    of its curve."""
    tasks = axes.tasks or [base.task]
    chains = [parse_pipeline(c) for c in axes.chains] if axes.chains else [(list(base.compressors), None)]
    tuners = axes.tuners or [base.tuner]
    sparsities: list[float] = list(axes.sparsities) if axes.sparsities is not None else list(base.sparsity)
    seeds = axes.seeds or [base.seed]
    data = base.model_dump()
    data.pop("sparsity")
    cells: list[Cell] = []
    seen: set[str] = set()
    for task in tasks:
        # The task's own config defaults where the base set nothing; --vary values still win.
        task_data = copy.deepcopy(data)
        for section, values in task_defaults(base, task, catalogue).items():
            task_data[section].update(values)
        variants = _setting_variants(task_data, axes.vary or {})
        for chain, pinned in chains:
            pruners = {n for n in chain if catalogue.get("compressor", n).needs_sparsity}
            # No sparsity axis: the pruner's own default targets (an error if it declares none).
            points: list[float | None] = list(sparsities or default_sparsities(chain, catalogue)) if pruners else [None]
            for tuner in [pinned] if pinned else tuners:
                for s in points:
                    dense = s == 0
                    comps = ([n for n in chain if n not in pruners] or ["none"]) if dense else chain
                    for (varied, cell_data), seed in itertools.product(variants, seeds):
                        cfg = RunConfig.model_validate({**cell_data, "task": task, "compressors": comps,
                                                        "tuner": tuner, "sparsity": None if dense else s,
                                                        "seed": seed})
                        if cfg.run_key() in seen:
                            continue
                        seen.add(cfg.run_key())
                        cells.append(Cell(len(cells), cfg, tuple(chain), varied))
    return cells


def _setting_variants(data: dict[str, Any], vary: dict[str, list[Any]]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The base config with each combination of the ``vary`` values applied (as ``--set`` would),
    each checked now so a bad value fails before any cell runs."""
    out = []
    for values in itertools.product(*vary.values()):
        cell_data = copy.deepcopy(data)
        labels = []
        for key, value in zip(vary, values, strict=True):
            apply_setting(cell_data, key.split("."), value)
            labels.append(f"{key}={json.dumps(value)}")
        try:
            RunConfig.model_validate({**cell_data, "sparsity": None})
        except ValidationError as exc:
            raise UserError(f"--vary {', '.join(labels)}: {config_error(exc)}") from None
        out.append((tuple(labels), cell_data))
    return out


def validate_cells(cells: list[Cell], catalogue: Catalogue, pm: Any = None) -> None:
    """Check every cell against the plugins (names, chain rules, options) before any work; with
    the plugin manager ``pm``, also the pre-flight checks (teacher config, data files)."""
    from greenprune.preflight import check_bench
    from greenprune.runner import validate

    for cell in cells:
        data = cell.config.model_dump()
        sparsity = data.pop("sparsity")
        try:
            bench = BenchConfig.model_validate({**data, "sparsity": [] if sparsity is None else [sparsity]})
            validate(bench, catalogue)
            if pm is not None:
                check_bench(bench, pm, catalogue)
        except UserError as exc:
            raise UserError(f"sweep cell {cell.index} ({cell.label()}): {exc}") from None


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; ``None`` is the whole matrix ``(0, 1)``."""
    if spec is None:
        return 0, 1
    try:
        i, n = (int(p) for p in spec.split("/"))
    except ValueError:
        raise UserError(f"bad --shard {spec!r}: expected i/n, e.g. --shard 0/4 (shards 0..3 of 4)") from None
    if n < 1 or not 0 <= i < n:
        raise UserError(f"bad --shard {spec!r}: need 0 <= i < n, e.g. --shard 0/{max(n, 2)}")
    return i, n


def select_shard(cells: list[Cell], shard: tuple[int, int]) -> list[Cell]:
    i, n = shard
    return [c for c in cells if c.index % n == i]
