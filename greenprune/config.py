"""The run configuration: CLI flags and/or a TOML file, validated before any model loads."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from greenprune.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: seeds must fit numpy's RandomState (set_seed seeds it): 0 .. 2**32 - 1
MAX_SEED = 2**32 - 1


class _Strict(BaseModel):
    # inf/nan are never a meaningful setting (--epochs inf overflowed the step count after the data loaded)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TrainConfig(_Strict):
    """Hyper-parameters of every training phase unless a component's options override them.

    The defaults are a plain BERT fine-tune (3 epochs, lr 5e-5, batch 32, length 128)."""

    epochs: float = Field(3.0, gt=0, description="training epochs (fractions allowed)")
    learning_rate: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    max_length: int = Field(128, ge=8, description="max tokens per example (dynamic padding below)")
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    logging_steps: int = Field(20, ge=1)
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        "no", description="accelerate's mixed precision while training (bf16 also on CPUs; fp16 needs a GPU)")
    fused_optimizer: bool = Field(
        True, description="AdamW's fused kernel (one pass over all weights; the same algorithm, faster updates "
        "on CPU, see benchmarks/train_step_cost.py); false: PyTorch's per-tensor loop. Not part of run or "
        "cache keys (it changes rounding only)")


def train_key(train: dict[str, Any]) -> dict[str, Any]:
    """``train`` as run and cache keys hash it: settings added later are left out while they train
    as before them, so results and cached teachers from before still resume. ``fused_optimizer`` is
    left out always: the fused and the looped AdamW are one algorithm whose float sums round in
    another order, a difference of the kind the thread count or the torch build makes, which no key
    holds either (the phase records which optimizer ran)."""
    return {k: v for k, v in train.items() if not (k == "mixed_precision" and v == "no") and k != "fused_optimizer"}


class InferenceConfig(_Strict):
    """The inference benchmark: fixed batch and sequence length, warm-up, repeats."""

    batch_size: int = Field(32, ge=1)
    seq_length: int = Field(128, ge=8)
    warmup: int = Field(2, ge=0, description="untimed warm-up batches")
    repeats: int = Field(5, ge=1, description="timed repeats per model (median and spread)")
    min_window_s: float = Field(2.0, gt=0, description="each energy window runs at least this long")
    energy_repeats: int = Field(3, ge=1, description="energy windows per model, alternated (median, min/max)")
    enabled: bool = True
    runtimes: list[Literal["eager", "onnxruntime"]] = Field(
        ["eager"], min_length=1,
        description="runtimes every model is measured in; onnxruntime exports each model to ONNX, checks its "
                    "outputs against PyTorch, and measures the runtime x matrix_batch_sizes x matrix_threads matrix")
    matrix_batch_sizes: list[int] = Field(default_factory=lambda: [1, 32], min_length=1,
                                          description="batch sizes of the runtime matrix")
    matrix_threads: list[int] = Field(default_factory=list,
                                      description="intra-op thread counts of the runtime matrix (empty: as set)")

    @field_validator("matrix_batch_sizes", "matrix_threads")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError(f"{v} holds a value below 1; batch sizes and thread counts start at 1")
        return v

    @property
    def matrix(self) -> bool:
        """Whether the runtime matrix is measured (any runtime besides the default eager)."""
        return self.runtimes != ["eager"]


class EnergyConfig(_Strict):
    """The energy protocol: an idle baseline, and the factors of derived report columns.

    CO2 and cost are never stored as measurements: the report derives them from joules with the
    intensity and price named here, and labels them so."""

    idle_baseline_s: float = Field(5.0, ge=0, description="idle window before the first phase (0: none)")
    co2_g_per_kwh: float | None = Field(None, ge=0, description="grid carbon intensity for the report's CO2e")
    price_per_kwh: float | None = Field(None, ge=0, description="electricity price for the report's cost")
    currency: str = "EUR"


def _check_sparsity(v: float | None) -> float | None:
    if v is not None and not 0 < v < 1:
        raise ValueError(f"sparsity {v} is outside (0, 1); pass e.g. --sparsity 0.6")
    return v


class RunConfig(_Strict):
    """One run: one teacher, task, compressor chain, tuner and sparsity."""

    task: str = "demo"
    teacher: str = "minilm"
    data_dir: Path | None = None
    # The default bench compresses: CoFi at its own default targets (Component.default_sparsities).
    compressors: list[str] = Field(default_factory=lambda: ["cofi"], min_length=1)
    tuner: str = "finetune"
    evaluator: str | None = Field(None, description="default: the task's own evaluator")
    sparsity: float | None = Field(None, description="target sparsity of the compressor, in (0, 1)")
    meters: list[str] = Field(default_factory=lambda: ["auto"])
    seed: int = Field(42, ge=0, le=MAX_SEED)
    max_train_samples: int | None = Field(None, ge=1)
    max_eval_samples: int | None = Field(None, ge=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    #: per-component options: component name -> option -> value
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    cache_dir: Path | None = Field(None, description="fine-tuned teachers; default ~/.cache/greenprune")
    save_student: bool = Field(True, description="save the final student to OUT/models/<run_key>/")

    @field_validator("sparsity")
    @classmethod
    def _sparsity_in_range(cls, v: float | None) -> float | None:
        return _check_sparsity(v)

    def run_key(self) -> str:
        """A stable id of what this run computes (used to skip finished runs on resume)."""
        data = self.model_dump(mode="json")
        # Report-only factors (CO2, price) change no measurement: a new price must not re-run a
        # bench. Energy-protocol fields added after the first results were written stay out of
        # the key while at their defaults, so earlier results.jsonl files still resume.
        energy = data.pop("energy")
        if energy["idle_baseline_s"] != EnergyConfig.model_fields["idle_baseline_s"].default:
            data["energy"] = {"idle_baseline_s": energy["idle_baseline_s"]}
        defaults = InferenceConfig().model_dump(mode="json")
        for added in ("energy_repeats", "runtimes", "matrix_batch_sizes", "matrix_threads"):
            if data["inference"][added] == defaults[added]:
                del data["inference"][added]
        data["train"] = train_key(data["train"])
        blob = json.dumps(data, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class BenchConfig(RunConfig):
    """A bench: a RunConfig with a list of sparsities (one run per value)."""

    sparsity: list[float] = Field(default_factory=list)  # type: ignore[assignment]

    @field_validator("sparsity", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        # None: a single run's recorded config (a result's, a sweep cell's) without a sparsity
        return [] if v is None else [v] if isinstance(v, (int, float)) else v

    @field_validator("sparsity")
    @classmethod
    def _sparsity_in_range(cls, v: list[float]) -> list[float]:  # type: ignore[override]
        # Same name as the parent's validator, so it replaces it for the list form.
        for s in v:
            _check_sparsity(s)
        return v

    def runs(self) -> list[RunConfig]:
        data = self.model_dump()
        sparsities: list[float | None] = list(data.pop("sparsity")) or [None]
        return [RunConfig.model_validate({**data, "sparsity": s}) for s in sparsities]


def parse_set(item: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value``; the value is read as a TOML literal when it is one."""
    if "=" not in item or not item.split("=", 1)[0].strip():
        raise UserError(f"bad --set {item!r}: expected section.key=value, e.g. --set train.epochs=1")
    path, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path.strip().split("."), value


def apply_setting(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``section.key`` (split into ``path``) in raw config ``data``, as ``--set`` does."""
    section = path[0]
    # A section that is not a RunConfig field names a component: its options.
    if section not in BenchConfig.model_fields:
        if len(path) == 1:
            valid = ", ".join(BenchConfig.model_fields)
            raise UserError(f"bad --set {section!r}: not a config key (valid: {valid}) and no NAME.option form")
        path = ["options", *path]
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise UserError(f"bad --set {'.'.join(path)}: {key!r} is not a section")
    node[path[-1]] = value


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file {str(path)!r} not found; check the --config path") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except IsADirectoryError:
        raise UserError(f"config file {str(path)!r} is a folder; --config takes a TOML file") from None


def load_config_file(path: Path) -> dict[str, Any]:
    """A config file's data: TOML, or JSON for a ``.json`` file (what a sweep records per cell)."""
    if Path(path).suffix != ".json":
        return load_toml(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file {str(path)!r} not found; check the --config path") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"config file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {str(path)!r} must hold a JSON object (a run config)")
    return data


def build_config(
    data: Mapping[str, Any] | Path | None = None, flags: Mapping[str, Any] | None = None, sets: Sequence[str] = ()
) -> BenchConfig:
    """Merge, lowest first: defaults, ``data`` (a config as data: a parsed TOML file, a sweep
    cell, a recorded result's ``config``), CLI flags, then ``--set`` overrides. A path in place of
    ``data`` is read with :func:`load_config_file`. ``data`` itself is never modified."""
    if isinstance(data, (str, Path)):
        data = load_config_file(Path(data))
    merged: dict[str, Any] = copy.deepcopy(dict(data or {}))
    for key, value in (flags or {}).items():
        if value is None or value == () or value == []:
            continue
        if key in ("epochs", "learning_rate", "batch_size", "max_length"):
            merged.setdefault("train", {})[key] = value
        else:
            merged[key] = list(value) if isinstance(value, tuple) else value
    for item in sets:
        apply_setting(merged, *parse_set(item))
    try:
        return BenchConfig.model_validate(merged)
    except ValidationError as exc:
        raise config_error(exc) from None


def config_error(exc: ValidationError) -> UserError:
    """A one-line error naming the first bad config value of ``exc`` (and how many more there are)."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    extra = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    if err["type"] == "extra_forbidden":
        valid = ", ".join(BenchConfig.model_fields)
        return UserError(f"unknown config key {loc!r}; valid top-level keys: {valid}{extra}")
    return UserError(f"bad config value for {loc!r}: {msg} (got {err.get('input')!r}){extra}")
