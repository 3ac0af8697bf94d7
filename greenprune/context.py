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
    from greenprune.metering import Meter
    from greenprune.progress import Progress


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
    config: RunConfig
    pm: pluggy.PluginManager
    catalogue: Catalogue
    out_dir: Path
    cache_dir: Path
    progress: Progress
    meters: list[Meter] = field(default_factory=list)
    #: phase name -> logged training steps; filled by trainers, saved in the result
    traces: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def options(self, name: str) -> dict[str, Any]:
        return dict(self.config.options.get(name, {}))

    def run_phase(self, name: str, fn: Callable[[], Any]) -> tuple[Any, PhaseRecord]:
        """Run ``fn`` as a phase through the hook (so every wrapper, e.g. metering, sees it)."""
        phase = Phase(name, fn)
        output = self.pm.hook.greenprune_run_phase(ctx=self, phase=phase)
        self.pm.hook.greenprune_phase_finished(ctx=self, record=phase.record)
        return (output.value if isinstance(output, PhaseOutput) else output), phase.record
