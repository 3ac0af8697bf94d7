"""The results schema (one JSON object per run in ``OUT/results.jsonl``) and its store.

Reports read only these files, so any set of runs can be re-rendered and compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"


class EnergyReading(BaseModel):
    """One meter's energy over one window. ``joules`` is ``None`` when the meter saw no sensor.

    ``joules`` is always the meter's own total for the window. When the run measured an idle
    baseline (``RunResult.energy_baseline``), ``baseline_j`` is that meter's idle power (same
    ``covers``) times this window, and ``dynamic_j = joules - baseline_j``: the energy the work
    added on top of an idle machine. Both stay ``None`` without a baseline or a figure; the
    dynamic part may come out slightly negative for near-idle windows (noise, kept as measured).
    """

    meter: str
    joules: float | None
    method: Literal["counter", "sampled-power", "estimate"]
    covers: str = Field(description="what was measured: gpu:0, cpu-package, dram, process-cpu, ...")
    window_s: float
    note: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    baseline_j: float | None = Field(None, description="idle power of this meter and covers x window_s")
    dynamic_j: float | None = Field(None, description="joules - baseline_j")
    # Where the reading came from (added without a schema bump; results written before lack them
    # and were single-process). ``scope`` says whether another process of the same machine would
    # read the same joules: a node sensor is kept once per host, a process sensor once per rank
    # when a multi-process run's readings are merged (``energy_ranks.py``).
    scope: Literal["node", "process"] | None = Field(
        None, description="node: a sensor of the whole machine (RAPL, a GPU); process: this process only "
                          "(its CPU time); None in results written before scopes were recorded")
    host: str | None = Field(None, description="the machine that read it")
    rank: int | None = Field(None, description="the process (rank) that read it; 0 without a launcher")


class MemoryFigures(BaseModel):
    """Peak memory of one window (a phase, or a model's first inference calls); see ``memory.py``."""

    method: str = ""
    rss_start_bytes: int | None = Field(None, description="process resident memory when the window opened")
    peak_rss_bytes: int | None = Field(None, description="highest process resident memory in the window")
    peak_rss_delta_bytes: int | None = Field(None, description="peak_rss_bytes - rss_start_bytes")
    cuda_max_allocated_bytes: int | None = None
    cuda_max_reserved_bytes: int | None = None
    cuda_allocated_delta_bytes: int | None = Field(None, description="peak allocated - allocated at the start")
    weight_bytes: int | None = Field(None, description="the model's parameters and buffers in memory")
    runtime_load_bytes: int | None = Field(
        None, description="resident memory added by loading the model into a runtime other than eager (its copy)")


class PhaseRecord(BaseModel):
    """Wall time and energy of one phase."""

    name: str = Field(description="teacher-finetune, compress:<name>, tune:<name>, evaluate, inference")
    wall_s: float = 0.0
    energy: list[EnergyReading] = Field(default_factory=list)
    cache_hit: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    peak_memory: MemoryFigures | None = None


class ModelSize(BaseModel):
    encoder_params: int
    total_params: int
    trainable_params: int | None = None
    bytes_on_disk: int | None = None
    measured_sparsity: float | None = Field(None, description="1 - encoder params / teacher encoder params "
                                            "(structured: parameters removed)")
    layers: list[dict[str, Any]] = Field(default_factory=list, description="per-layer kept sizes")
    # Added without a schema bump (results written before lack them and read as None):
    encoder_nonzero: int | None = Field(None, description="encoder params present and not exactly zero")
    unstructured_sparsity: float | None = Field(None, description="zeros among the encoder params present")
    dtypes: dict[str, int] | None = Field(None, description="stored values per dtype (the state dict's tensors)")
    bytes_by_dtype: dict[str, int] | None = Field(
        None, description="tensor bytes per dtype in the saved safetensors (F32, I8, ...), read from the files")

    @property
    def structured_sparsity(self) -> float | None:
        """Parameters removed vs the teacher (the recorded ``measured_sparsity``)."""
        return self.measured_sparsity


class PerExampleEnergy(BaseModel):
    """Joules per example of one meter source (``meter:covers``) over repeated inference windows."""

    method: str = Field(description="the meter's method label (counter, sampled-power, estimate)")
    windows: int = Field(description="energy windows measured (inference.energy_repeats)")
    values_j: list[float] = Field(default_factory=list, description="J per example of each window with a figure")
    median_j: float | None = None
    min_j: float | None = None
    max_j: float | None = None
    dynamic_median_j: float | None = Field(None, description="median of dynamic J per example (idle baseline removed)")


class InferenceFigures(BaseModel):
    batch_size: int
    seq_length: int
    repeats: int
    latency_ms_median: float
    latency_ms_min: float
    latency_ms_max: float
    throughput_per_s: float
    energy_per_example_j: dict[str, float | None] = Field(
        default_factory=dict, description="meter:covers -> median joules per example over the energy windows")
    energy_per_example: dict[str, PerExampleEnergy] = Field(
        default_factory=dict, description="meter:covers -> median, min/max and every window's J per example")
    energy: list[EnergyReading] = Field(default_factory=list, description="every energy window's readings")
    device: str | None = Field(None, description="where it ran: cpu, or cuda:0 (GPU name); one device, also "
                               "in a multi-process run")
    runtime: str = Field("eager", description="eager (PyTorch) or onnxruntime")
    runtime_info: dict[str, Any] = Field(
        default_factory=dict, description="versions, execution provider, exporter of the runtime")
    threads: int | None = Field(None, description="intra-op threads the model ran with")
    parity_max_abs_diff: float | None = Field(
        None, description="largest |output - eager PyTorch output| on the benchmark batch (non-eager runtimes)")
    parity_tolerance: float | None = Field(
        None, description="largest |difference| accepted (see parity_rule)")
    # Added without a schema bump (results written before lack them and read as None):
    parity_rule: str | None = Field(
        None, description="how parity_tolerance was set and why (1e-4 for float32; an int8 graph from the "
        "student's own int8 rounding error)")
    parity_argmax_agreement: float | None = Field(
        None, description="share of rows whose argmax over an output's last axis agrees with PyTorch's (outputs "
        "with more than one column)")
    memory: MemoryFigures | None = None


class ModelReport(BaseModel):
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict, description="split -> metric -> value")
    size: ModelSize | None = None
    inference: InferenceFigures | None = None
    runtimes: list[InferenceFigures] = Field(
        default_factory=list, description="the runtime matrix: one cell per runtime x batch size x threads")


class RunResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_key: str
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    started_at: str
    finished_at: str | None = None
    config: dict[str, Any]
    env: dict[str, Any] = Field(default_factory=dict)
    task: dict[str, Any] = Field(default_factory=dict, description="name, primary metric, data source, sizes")
    phases: list[PhaseRecord] = Field(default_factory=list)
    energy_baseline: list[EnergyReading] = Field(
        default_factory=list, description="idle window of every meter, measured once before the first phase")
    teacher: ModelReport = Field(default_factory=ModelReport)
    student_after_compress: ModelReport = Field(default_factory=ModelReport)
    #: the tuned student before the chain's post-training compressors (e.g. quantize) ran; empty without them
    student_before_post_training: ModelReport = Field(default_factory=ModelReport)
    student: ModelReport = Field(default_factory=ModelReport)
    traces: dict[str, list[dict[str, float]]] = Field(
        default_factory=dict, description="phase -> logged steps (loss parts, sparsity, lambdas)")
    extra: dict[str, Any] = Field(default_factory=dict)


class ResultStore:
    """Append-only JSONL store. A line is written only when a run has finished, so an interrupted
    bench keeps every finished run and a re-run skips them (see :mod:`greenprune.jsonl`)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / RESULTS_FILE

    def append(self, result: RunResult) -> None:
        from greenprune.jsonl import append_line
        from greenprune.locks import folder_lock

        with folder_lock(self.path.parent):
            append_line(self.path, result.model_dump_json())

    def finished_keys(self) -> set[str]:
        return {r.run_key for r in self.load() if r.status == "ok"}

    def load(self) -> list[RunResult]:
        return load_results([self.path]) if self.path.exists() else []


def latest_per_key(results: list[RunResult]) -> list[RunResult]:
    """One result per run key: the last ok one, else the last one (a failed cell re-run later, or
    the same cell merged from two shards' folders, counts once)."""
    best: dict[str, RunResult] = {}
    for r in results:
        if r.status == "ok" or best.get(r.run_key) is None or best[r.run_key].status != "ok":
            best[r.run_key] = r
    return list(best.values())


def load_results(paths: list[Path]) -> list[RunResult]:
    """Read results from files or folders holding ``results.jsonl``. A line that is torn, not
    UTF-8 or not a result is skipped with a warning naming the file and line; a result from a
    newer schema is a user error naming both versions (reading it as this one could be wrong)."""
    from pydantic import ValidationError

    from greenprune.errors import UserError
    from greenprune.jsonl import read_objects, skip

    out: list[RunResult] = []
    for p in paths:
        p = Path(p)
        f = p / RESULTS_FILE if p.is_dir() else p
        if not f.is_file():
            raise UserError(f"no results at {str(p)!r}: expected a folder holding {RESULTS_FILE} or the file")
        for number, obj in read_objects(f):
            version = obj.get("schema_version")
            if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
                raise UserError(f"{f} line {number}: results schema_version {version} is newer than this "
                                f"greenprune reads (schema_version {SCHEMA_VERSION}); upgrade greenprune "
                                "to read or add to this file")
            try:
                out.append(RunResult.model_validate(obj))
            except ValidationError as exc:
                skip(f, number, f"not a complete result ({exc.errors()[0]['msg']})")
    return latest_per_key(out)
