"""The built-in report sections, registered in their reading order: overview, comparison, phases,
layers (the study section is a plugin of its own, ``report-study``, placed after them).

Each section reads only ``RunResult`` fields (and the phase reports the compressors give) and
writes through the report API's ``Doc``, so the Markdown and HTML reports show the same numbers.
Missing fields show as "–". The ``order`` values leave room between them for third-party sections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenprune.api import Component, hookimpl


def _component(name: str, cls: Callable[[], Any], order: int, description: str) -> Component:
    return Component(name=name, factory=lambda _opts: cls(), order=order, description=description)


def sections() -> list[Component]:
    """The built-in sections (the study section is in :mod:`greenprune_builtins.report_study`)."""
    from greenprune_builtins.report_comparison import Comparison
    from greenprune_builtins.report_layers import Layers
    from greenprune_builtins.report_overview import Overview
    from greenprune_builtins.report_phases import Phases

    return [
        _component("overview", Overview, 100,
                   "per teacher and task: data source, runs, environment, energy methods"),
        _component("comparison", Comparison, 200,
                   "teacher vs every run: metrics, Δ, size, latency, speed-up, energy, time; figures"),
        _component("phases", Phases, 300, "per run: wall time and every energy reading of each phase"),
        _component("layers", Layers, 400, "per run: kept heads, Q/K/V, FFN and hidden size of each layer"),
    ]


@hookimpl
def greenprune_register_report_sections(register: Callable[[Component], None]) -> None:
    for component in sections():
        register(component)
