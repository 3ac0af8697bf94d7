"""What a run passes around: the context (which owns the run's result), the phase being run,
and what a phase returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from greenprune.results import PhaseRecord, RunResult

if TYPE_CHECKING:
    import pluggy

    from greenprune.components import Catalogue
    from greenprune.config import RunConfig
    from greenprune.progress import Progress
    from greenprune.protocols import Meter

T = TypeVar("T")


@dataclass
class PhaseOutput(Generic[T]):
    """What a phase returns: its value, and what the result records about the phase.

    Compressors, tuners and :func:`~greenprune.training_phase.train_phase` return one; a phase
    function that returns anything else is wrapped (``PhaseOutput(value)``)."""

    #: what the next phase works on (a ``ModelBundle``, metrics, inference figures)
    value: T
    #: JSON-able facts kept in the phase's record (``PhaseRecord.details``), e.g. ``{"train": ...}``
    details: dict[str, Any] = field(default_factory=dict)
    #: logged training steps (loss parts, sparsity, ...): kept as ``RunResult.traces[phase]``
    trace: list[dict[str, float]] = field(default_factory=list)
    #: True when a cache served the value and no work was done (``PhaseRecord.cache_hit``)
    cache_hit: bool = False


@dataclass
class Phase:
    """One metered unit of work. ``fn`` does the work; the record collects time and energy."""

    name: str
    fn: Callable[[], Any]
    record: PhaseRecord = field(default_factory=lambda: PhaseRecord(name=""))

    def __post_init__(self) -> None:
        self.record.name = self.name


@dataclass
class RunContext:
    """What every phase of one run shares; plugins receive it as ``ctx``."""

    #: the run's validated configuration (``ctx.config.train`` is the shared training recipe)
    config: RunConfig
    #: the run's own plugin manager (call other plugins' hooks through ``ctx.pm.hook``)
    pm: pluggy.PluginManager
    #: every component the run's plugins registered
    catalogue: Catalogue
    #: the output folder (``results.jsonl``, ``models/``)
    out_dir: Path
    #: where fine-tuned models are cached between runs
    cache_dir: Path
    #: ``ctx.progress.say(line)`` prints a run message; ``bar`` shows a progress bar
    progress: Progress
    #: the run's result; :meth:`run_phase` records every phase into it
    result: RunResult
    #: the meters this run measures energy with (already started by the core around each phase)
    meters: list[Meter] = field(default_factory=list)

    def options(self, name: str) -> dict[str, Any]:
        """The raw options the user set for component ``name`` (a copy)."""
        return dict(self.config.options.get(name, {}))

    @overload
    def run_phase(self, name: str, fn: Callable[[], PhaseOutput[T]]) -> T: ...

    @overload
    def run_phase(self, name: str, fn: Callable[[], T]) -> T: ...

    def run_phase(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` as a phase through the hook (so every wrapper, e.g. metering, sees it),
        record it in :attr:`result` (wall time, energy, details, trace) and return its value."""
        phase = Phase(name, fn)
        output: PhaseOutput[Any] = self.pm.hook.greenprune_run_phase(ctx=self, phase=phase)
        record = phase.record
        record.details.update(output.details)
        record.cache_hit = output.cache_hit
        if output.trace:
            self.result.traces[name] = output.trace
        self.result.phases.append(record)
        self.pm.hook.greenprune_phase_finished(ctx=self, record=record)
        return output.value
