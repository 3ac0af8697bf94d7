"""Sweeps: one command runs a matrix tasks x compressor chains x tuners x sparsities x seeds.

The matrix is expanded and validated whole before any work (one-line errors, as ``bench``). Each
cell then runs as its own ``greenprune bench`` subprocess (see :mod:`greenprune.sweep_cells`), so
a crash or an out-of-memory kill costs that cell only: it is recorded as a failed result and the
sweep goes on. Cells whose run key is already in ``OUT/results.jsonl`` with status ok are skipped,
and ``--shard i/n`` keeps the cells whose index (in the stable matrix order) is ``i`` modulo
``n``, so any job runner can split one matrix across machines.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from greenprune.config import BenchConfig, RunConfig, build_config, load_toml
from greenprune.errors import UserError
from greenprune.results import latest_per_key

if TYPE_CHECKING:
    from greenprune.components import Catalogue

__all__ = ["Cell", "SweepAxes", "expand", "latest_per_key", "load_plan", "parse_chain", "parse_pipeline",
           "parse_shard", "select_shard", "validate_cells"]


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
    seeds: list[int] | None = Field(None, min_length=1)

    @field_validator("sparsities")
    @classmethod
    def _in_range(cls, v: list[float] | None) -> list[float] | None:
        for s in v or []:
            if not 0 <= s < 1:
                raise ValueError(f"sparsity {s} is outside [0, 1); e.g. 0.6 (0 = the dense model)")
        return v


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

    @property
    def key(self) -> str:
        return self.config.run_key()

    def label(self) -> str:
        c = self.config
        sparsity = "" if c.sparsity is None else f" @ sparsity {c.sparsity:g}"
        dense = " (dense point of " + "+".join(self.requested) + ")" if list(self.requested) != c.compressors else ""
        return f"{c.task} {'+'.join(c.compressors)} / {c.tuner}{sparsity} seed {c.seed}{dense}"


def load_plan(config_file: Path | None, flags: dict[str, Any], sets: list[str],
              axes: dict[str, list[Any]]) -> tuple[BenchConfig, SweepAxes]:
    """The base run config (TOML < flags < ``--set``, exactly as ``bench`` reads it) and the axes
    (a non-empty CLI list replaces the ``[sweep]`` one; an axis in neither falls back to the base)."""
    raw = load_toml(config_file) if config_file else {}
    table = raw.pop("sweep", {})
    if not isinstance(table, dict):
        raise UserError(f"[sweep] in {str(config_file)!r} must be a table, e.g. [sweep] tasks = [\"rte\"]")
    merged = {**table, **{k: list(v) for k, v in axes.items() if v}}
    try:
        sweep = SweepAxes.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "sweep"
        if err["type"] == "extra_forbidden":
            raise UserError(f"unknown [sweep] key {loc!r}; valid: {', '.join(SweepAxes.model_fields)}") from None
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"bad sweep value for {loc!r}: {msg} (got {err.get('input')!r})") from None
    # The rest of the file is a plain run config. build_config reads files only, so hand it the
    # file without its [sweep] table: the same merge order and the same one-line errors as bench.
    with tempfile.TemporaryDirectory() as tmp:
        base_file = None
        if raw:
            from greenprune.sweep_cells import dumps_toml

            base_file = Path(tmp) / "base.toml"
            base_file.write_text(dumps_toml(raw), encoding="utf-8")
        base = build_config(base_file, flags, sets)
    return base, sweep


def expand(base: BenchConfig, axes: SweepAxes, catalogue: Catalogue) -> list[Cell]:
    """Every cell in a stable order (task, chain, tuner, sparsity, seed), duplicates dropped.

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
        for chain, pinned in chains:
            pruners = {n for n in chain if catalogue.get("compressor", n).needs_sparsity}
            if pruners and not sparsities:
                raise UserError(f"chain {'+'.join(chain)} prunes: give sparsities, e.g. --sparsity 0.6 "
                                "(or [sweep] sparsities = [0.6, 0.9])")
            points: list[float | None] = list(sparsities) if pruners else [None]
            for tuner in [pinned] if pinned else tuners:
                for s in points:
                    dense = s == 0
                    comps = ([n for n in chain if n not in pruners] or ["none"]) if dense else chain
                    for seed in seeds:
                        cfg = RunConfig.model_validate({**data, "task": task, "compressors": comps, "tuner": tuner,
                                                        "sparsity": None if dense else s, "seed": seed})
                        if cfg.run_key() in seen:
                            continue
                        seen.add(cfg.run_key())
                        cells.append(Cell(len(cells), cfg, tuple(chain)))
    return cells


def validate_cells(cells: list[Cell], catalogue: Catalogue) -> None:
    """Check every cell against the plugins (names, chain rules, options) before any work."""
    from greenprune.runner import validate

    for cell in cells:
        data = cell.config.model_dump()
        sparsity = data.pop("sparsity")
        try:
            validate(BenchConfig.model_validate({**data, "sparsity": [] if sparsity is None else [sparsity]}),
                     catalogue)
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
