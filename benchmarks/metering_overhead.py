"""What metering costs: the same CPU-bound phase, metered and unmetered, side by side.

Run: ``python benchmarks/metering_overhead.py`` (a 60-second phase, 3 repeats; several minutes)
or ``--seconds 5`` for a quick look. ``--help`` lists every option.

The workload is a fixed number of forward passes of a MiniLM-sized BERT (6 layers, hidden 384,
random weights: no download) or, with ``--workload matmul``, of a square matrix product. The
number of iterations is calibrated once so that the unmetered phase lasts about ``--seconds``;
every condition then runs exactly that work, so extra wall time is the overhead.

Each phase goes through greenprune's real choke point: ``RunContext.run_phase`` and the metering
wrapper around ``greenprune_run_phase``, with the meters of one condition (none, cpu-estimate,
perun, or both). Conditions alternate within each repeat in a rotating order, so background load
and drift hit all of them alike; the overhead of a meter set in one repeat is its wall time over
the same repeat's unmetered wall time, minus 1, and the script prints the median over repeats
with the min and max. A second unmetered phase per repeat ("A/A") shows the machine's noise
floor: on a shared, loaded machine it can exceed the 2 % target, and then the timing alone cannot
decide; the script also prints the direct cost (a window's start + stop, and the CPU the meters'
threads take while a window is open), which does not depend on the load. Meter start-up (perun
probes its backends for seconds) happens when meters are chosen, outside any phase, exactly as in
a bench: it is printed separately, not counted.

The issue's target: at most 2 % of wall time for a 60-second phase.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TARGET_PERCENT = 2.0
AA = "unmetered (A/A)"
#: the meter sets compared with the unmetered phase
METER_SETS: dict[str, list[str]] = {"cpu-estimate": ["cpu-estimate"], "perun": ["perun"],
                                    "cpu-estimate+perun": ["cpu-estimate", "perun"]}


def make_workload(kind: str, batch_size: int, seq_length: int) -> tuple[Callable[[], None], str]:
    """One iteration of the workload, and a line describing it."""
    import torch

    torch.manual_seed(0)
    if kind == "matmul":
        a, b = torch.randn(512, 512), torch.randn(512, 512)

        def step() -> None:
            torch.mm(a, b)

        return step, "512x512 float32 matrix product"
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    model = BertModel(cfg).eval()
    batch = {"input_ids": torch.randint(1000, 2000, (batch_size, seq_length)),
             "attention_mask": torch.ones(batch_size, seq_length, dtype=torch.long)}

    def forward() -> None:
        with torch.inference_mode():
            model(**batch)

    return forward, f"MiniLM-sized BERT forward (6x384, random weights), batch {batch_size} x {seq_length} tokens"


def calibrate(step: Callable[[], None], seconds: float) -> int:
    """Iterations that take about ``seconds`` unmetered (timed over a short sample)."""
    for _ in range(2):  # warm-up: first calls allocate
        step()
    sample_s = min(max(seconds / 10, 1.0), 10.0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < sample_s:
        step()
        n += 1
    rate = n / (time.perf_counter() - t0)
    return max(1, math.ceil(rate * seconds))


def build_meters(names: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each meter once (shared between sets, like a run's one meter per name), and why it is available."""
    from greenprune.components import collect
    from greenprune.metering import select_meters
    from greenprune.plugins import make_plugin_manager

    catalogue = collect(make_plugin_manager())
    meters, why = {}, {}
    for name in names:
        t0 = time.perf_counter()
        [meter], [line] = select_meters([name], catalogue, {})  # perun's slow start-up is paid here
        meters[name] = meter
        why[name] = f"{line} [chosen in {time.perf_counter() - t0:.2f} s]"
    return meters, why


def make_context(meters: list[Any], tmp: Path) -> Any:
    """A run context whose plugin manager holds only the essentials: running and metering a phase."""
    from greenprune.components import collect
    from greenprune.config import RunConfig
    from greenprune.context import RunContext
    from greenprune.plugins import make_plugin_manager
    from greenprune.progress import Progress
    from greenprune.results import RunResult

    pm = make_plugin_manager(load_entry_points=False)
    return RunContext(config=RunConfig(), pm=pm, catalogue=collect(pm), out_dir=tmp, cache_dir=tmp,
                      progress=Progress(quiet=True), result=RunResult(run_key="overhead", started_at="", config={}),
                      meters=meters)


def run_phase(ctx: Any, step: Callable[[], None], iterations: int) -> tuple[float, float]:
    """Wall time and process CPU time of one phase of ``iterations`` steps, start and stop of its
    meters included."""

    def work() -> None:
        for _ in range(iterations):
            step()

    t0, c0 = time.perf_counter(), time.process_time()
    ctx.run_phase("work", work)
    return time.perf_counter() - t0, time.process_time() - c0


def idle_cpu_ms_per_s(meters: list[Any], seconds: float = 2.0) -> float:
    """Process CPU time per second of an idle window with ``meters`` open: what the meters' own
    threads (pollers) cost while a phase runs, free of the workload's noise."""
    tokens = [(m, m.start()) for m in meters]
    t0, c0 = time.perf_counter(), time.process_time()
    time.sleep(seconds)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    for m, tok in reversed(tokens):
        m.stop(tok)
    return cpu / wall * 1e3


def window_cost_us(meter: Any, n: int = 200) -> float:
    """Mean cost of one empty window (start + stop) in microseconds."""
    t0 = time.perf_counter()
    for _ in range(n):
        meter.stop(meter.start())
    return (time.perf_counter() - t0) / n * 1e6


def percent(x: float) -> str:
    return f"{x:+.2f}%"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of one unmetered phase (default 60)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of every condition (default 3)")
    ap.add_argument("--workload", choices=["bert", "matmul"], default="bert")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    step, what = make_workload(args.workload, args.batch_size, args.seq_length)
    names = sorted({n for ns in METER_SETS.values() for n in ns})
    meters, why = build_meters(names)
    iterations = calibrate(step, args.seconds)
    print(f"workload: {what}; {iterations} iterations per phase (about {args.seconds:g} s unmetered)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {os.cpu_count()} CPUs; "
          f"repeats {args.repeats}; python {sys.version.split()[0]}")
    for name in names:
        print(f"meter {name}: {why[name]}")

    # "unmetered (A/A)" is a second unmetered phase: its "overhead" is the machine's noise floor,
    # the smallest difference this run can tell from zero.
    conditions: dict[str, list[Any]] = {"unmetered": [], AA: [],
                                        **{k: [meters[n] for n in v] for k, v in METER_SETS.items()}}
    order = list(conditions)
    walls: dict[str, list[float]] = {c: [] for c in conditions}
    cpus: dict[str, list[float]] = {c: [] for c in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        contexts = {c: make_context(ms, Path(tmp)) for c, ms in conditions.items()}
        for rep in range(args.repeats):
            rotated = order[rep % len(order):] + order[:rep % len(order)]  # each condition in each slot
            for cond in rotated:
                wall, cpu = run_phase(contexts[cond], step, iterations)
                walls[cond].append(wall)
                cpus[cond].append(cpu)
                print(f"  repeat {rep + 1}/{args.repeats} {cond:<20} wall {wall:8.2f} s  cpu {cpu:8.2f} s", flush=True)

    def overhead(values: dict[str, list[float]], cond: str) -> list[float]:
        # paired with the same repeat's unmetered phase: background load changes between repeats
        return [(m / u - 1) * 100 for m, u in zip(values[cond], values["unmetered"], strict=True)]

    def spread(values: list[float]) -> str:
        return f"{percent(statistics.median(values))} [{percent(min(values))}, {percent(max(values))}]"

    print()
    print(f"{'meter set':<20} {'wall median (s)':>15}  {'wall overhead: median [min, max]':<36} "
          "CPU-time overhead: median [min, max]")
    print(f"{'unmetered':<20} {statistics.median(walls['unmetered']):15.2f}  (reference)")
    timed: dict[str, float] = {}
    for cond in [AA, *METER_SETS]:
        wall_over = overhead(walls, cond)
        timed[cond] = statistics.median(wall_over)
        print(f"{cond:<20} {statistics.median(walls[cond]):15.2f}  {spread(wall_over):<36} "
              f"{spread(overhead(cpus, cond))}")
    noise = max(abs(x) for x in overhead(walls, AA))

    # Direct cost, free of the workload's noise: the meters' start + stop at the phase edges, and
    # the CPU their threads take while the window is open (measured on an idle process).
    print()
    window_us = {n: window_cost_us(m) for n, m in meters.items()}
    print("one empty window (start + stop): " + ", ".join(f"{n} {us:.0f} µs" for n, us in window_us.items()))
    idle_cpu_ms_per_s([], 0.5)  # discarded: torch's worker threads may still be spinning down
    base = idle_cpu_ms_per_s([])
    threads = {c: max(idle_cpu_ms_per_s(ms) - base, 0.0) for c, ms in conditions.items() if ms}
    print(f"meters' own CPU while a window is open (idle process, minus {base:.2f} ms/s unmetered): "
          + ", ".join(f"{c} {v:.2f} ms/s" for c, v in threads.items()))
    bound = {c: (sum(window_us[n] for n in METER_SETS[c]) * 1e-6 / args.seconds + threads[c] * 1e-3) * 100
             for c in METER_SETS}
    print(f"direct cost per {args.seconds:g} s phase (windows + meter threads' CPU, as % of the phase): "
          + ", ".join(f"{c} {v:.3f}%" for c, v in bound.items()))
    print()
    print(f"target: <= {TARGET_PERCENT:g}% of wall time for a {args.seconds:g} s phase")
    for cond in METER_SETS:
        if noise > TARGET_PERCENT:  # the timing cannot resolve the target: say so, and use the direct cost
            verdict = (f"timing inconclusive here (median {percent(timed[cond])}, but A/A noise reaches "
                       f"{noise:.1f}%, over the target); direct cost {bound[cond]:.3f}%: "
                       f"{'within' if bound[cond] <= TARGET_PERCENT else 'OVER'} the target")
        elif timed[cond] <= TARGET_PERCENT:
            verdict = f"met by timing ({percent(timed[cond])} median, A/A noise {noise:.1f}%)"
        else:
            verdict = f"NOT met ({percent(timed[cond])} median, A/A noise {noise:.1f}%)"
        print(f"  {cond:<20} {verdict}")
    for m in meters.values():
        m.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
