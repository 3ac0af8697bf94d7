"""What a run passes around: the context and the phase being run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.results import PhaseRecord

if TYPE_CHECKING:
    import pluggy

    from greenprune.components import Catalogue
    from greenprune.config import RunConfig
    from greenprune.progress import Progress
    from greenprune.protocols import Meter


@dataclass
class Phase:
    """One metered unit of work. ``fn`` does the work; the record collects time and energy."""

    name: str
    fn: Callable[[], Any]
    record: PhaseRecord = field(default_factory=lambda: PhaseRecord(name=""))

    def __post_init__(self) -> None:
        self.record.name = self.name


class PhaseOutput:
    """Wraps a phase's output so a phase returning ``None`` still ends the firstresult call."""

    def __init__(self, value: Any) -> None:
        self.value = value


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
    #: the meters this run measures energy with (already started by the core around each phase)
    meters: list[Meter] = field(default_factory=list)
    #: phase name -> logged training steps; filled by trainers, saved in the result
    traces: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def options(self, name: str) -> dict[str, Any]:
        """The raw options the user set for component ``name`` (a copy)."""
        return dict(self.config.options.get(name, {}))

    def run_phase(self, name: str, fn: Callable[[], Any]) -> tuple[Any, PhaseRecord]:
        """Run ``fn`` as a phase through the hook (so every wrapper, e.g. metering, sees it)."""
        phase = Phase(name, fn)
        output = self.pm.hook.greenprune_run_phase(ctx=self, phase=phase)
        self.pm.hook.greenprune_phase_finished(ctx=self, record=phase.record)
        return (output.value if isinstance(output, PhaseOutput) else output), phase.record
