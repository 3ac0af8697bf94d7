"""Essential core plugin: the default implementation of ``greenprune_run_phase``."""

from __future__ import annotations

import time
from typing import Any

from greenprune import hookimpl
from greenprune.context import Phase, PhaseOutput, RunContext


@hookimpl(trylast=True)
def greenprune_run_phase(ctx: RunContext, phase: Phase) -> PhaseOutput[Any]:
    start = time.perf_counter()
    try:
        out = phase.fn()
        return out if isinstance(out, PhaseOutput) else PhaseOutput(out)
    finally:
        phase.record.wall_s = time.perf_counter() - start
