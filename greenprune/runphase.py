"""Essential core plugin: the default implementation of ``greenprune_run_phase``."""

from __future__ import annotations

import time
from typing import Any

from greenprune import hookimpl
from greenprune.context import Phase, PhaseOutput, RunContext


@hookimpl(trylast=True)
def greenprune_run_phase(ctx: RunContext, phase: Phase) -> Any:
    start = time.perf_counter()
    try:
        return PhaseOutput(phase.fn())
    finally:
        phase.record.wall_s = time.perf_counter() - start
