"""A model card (``README.md`` in the Hugging Face layout: YAML metadata, then Markdown) for every
saved student, written from its finished result so the folder says what it is on its own.

Everything on the card comes from the ``RunResult``: task, teacher, chain and the options in effect,
metrics before and after, sparsity, size, speed-up and the hardware it was measured on, energy with
its method labels, and how to load the folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.report import facts
from greenprune.report import markup as fmt

if TYPE_CHECKING:
    from collections.abc import Sequence

    from greenprune.components import Catalogue
    from greenprune.results import ModelReport, RunResult

CARD_FILE = "README.md"

_PIPELINES = {"classification": "text-classification", "regression": "text-classification",
              "qa": "question-answering"}


def _metadata(r: RunResult) -> dict[str, Any]:
    """The YAML block: what the Hub reads (pipeline, tags, base model, results as a model-index)."""
    task = r.task.get("name") or r.config.get("task")
    results = []
    for split, metrics in r.student.metrics.items():
        results.append({
            "task": {"type": _PIPELINES.get(str(r.task.get("kind")), "text-classification"),
                     "name": str(r.task.get("title") or task)},
            "dataset": {"name": str(r.task.get("title") or task), "type": str(task), "split": split},
            "metrics": [{"type": k, "value": round(float(v), 6), "name": f"{k} ({split})"} for k, v in metrics.items()],
        })
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": _PIPELINES.get(str(r.task.get("kind")), "text-classification"),
        "tags": ["greenprune", "compressed", *r.config.get("compressors", []), str(r.config.get("tuner"))],
        "base_model": str(r.config.get("teacher")),
        "model-index": [{"name": f"greenprune-{r.run_key}", "results": results}],
    }
    if r.task.get("synthetic"):
        meta["tags"].append("synthetic-data")
    return meta


def _metric_rows(r: RunResult) -> list[list[str]]:
    rows = []
    models: list[tuple[str, ModelReport]] = [("teacher", r.teacher), ("after compression", r.student_after_compress),
                                             ("student (after tuning)", r.student)]
    for split, metrics in r.teacher.metrics.items():
        for name in metrics:
            cells = [fmt.metric(facts.value(rep, split, name)) for _, rep in models]
            t, s = facts.value(r.teacher, split, name), facts.value(r.student, split, name)
            kept = fmt.percent(s / t) if s is not None and t else fmt.MISSING
            rows.append([split, name, *cells, kept])
    return rows


def _size_rows(r: RunResult) -> list[list[str]]:
    rows = []
    for label, rep in (("teacher", r.teacher), ("student", r.student)):
        size, inf = rep.size, rep.inference
        up = facts.speedup(r, rep)
        rows.append([label, fmt.count(size.encoder_params if size else None),
                     fmt.count(size.total_params if size else None),
                     fmt.megabytes(size.bytes_on_disk if size else None), fmt.percent(facts.measured_sparsity(rep)),
                     fmt.MISSING if inf is None else f"{inf.latency_ms_median:.2f}",
                     fmt.MISSING if up is None else f"{up:.2f}×"])
    return rows


def _hardware(r: RunResult) -> str:
    env = r.env
    gpus = ", ".join(env.get("gpus") or []) or "none"
    load = env.get("load_average")
    load_text = f"; load average at start {load[0]:.2f}" if load else ""
    return (f"CPU {env.get('cpu', fmt.MISSING)} ({env.get('cpu_cores', fmt.MISSING)} cores, "
            f"{env.get('torch_threads', fmt.MISSING)} torch threads); GPUs: {gpus}{load_text}")


def _energy_lines(r: RunResult) -> list[str]:
    from greenprune.payback import payback, payback_text

    lines = []
    for meter, covers, method, total, _base, dynamic in facts.phase_totals(r):
        extra = f", of which dynamic {fmt.joules(dynamic, method)}" if dynamic is not None else ""
        lines.append(f"All phases ({meter}, {covers}): {fmt.joules(total, method)} ({method}){extra}")
    for p in r.phases:
        if p.name.startswith(("compress:", "tune:")):
            for e in p.energy:
                lines.append(f"{p.name} ({e.meter}, {e.covers}): {fmt.joules(e.joules, e.method)} ({e.method}), "
                             f"{fmt.seconds(p.wall_s)}" + (" (reused from cache)" if p.cache_hit else ""))
    for label, rep in (("teacher", r.teacher), ("student", r.student)):
        for source, spread in (rep.inference.energy_per_example.items() if rep.inference else []):
            lines.append(f"Inference, {label} ({source}): {fmt.joules(spread.median_j, spread.method)} per example, "
                         f"median of {spread.windows} windows ({spread.method})")
    for pb in payback(r):
        lines.append(f"Payback ({pb.source}, {pb.method}): {payback_text(pb)}")
    return lines or ["No energy readings were recorded."]


def _load_snippet(path: Path) -> str:
    return (
        "```python\n"
        "from pathlib import Path\n\n"
        "from transformers import AutoTokenizer\n\n"
        "from greenprune.plugins import make_plugin_manager\n"
        "from greenprune.saved import load_student\n\n"
        f"path = Path({str(path)!r})\n"
        "# Through greenprune's plugins: also brings back what a tuner saved beside the weights (adapters).\n"
        "model = load_student(make_plugin_manager([]), path)\n"
        "tokenizer = AutoTokenizer.from_pretrained(path)\n"
        "```\n\n"
        f"`greenprune verify {path.parent.parent}` reloads it this way and checks it scores what the run recorded."
    )


def render_card(r: RunResult, path: Path, phase_notes: Sequence[str] = ()) -> str:
    """The card's text. ``phase_notes``: what the chain's components say about their own phases
    (their ``phase_report.notes``: how a pruner met its target, say)."""
    import yaml

    doc = fmt.Doc("markdown")
    chain, tuner = facts.chain(r), facts.tuner(r)
    s = facts.target_sparsity(r)
    title = f"{r.task.get('name', r.config.get('task'))}: {chain} / {tuner}" + (
        f" at sparsity {s:g}" if s is not None else "")
    doc.para(f"Student of teacher {r.config.get('teacher')} on task {r.task.get('name', r.config.get('task'))}, "
             f"compressed with {chain} and tuned with {tuner} by greenprune "
             f"{(r.env.get('versions') or {}).get('greenprune', '')} (run {r.run_key}, {r.finished_at}).")
    if r.task.get("synthetic"):
        doc.para("Trained and scored on SYNTHETIC data generated by greenprune: a demonstration, not a benchmark.")
    doc.heading("Task and data", 2)
    doc.bullets([f"Task: {r.task.get('title', fmt.MISSING)} ({r.task.get('kind', fmt.MISSING)}), primary metric "
                 f"{r.task.get('primary_metric', fmt.MISSING)}",
                 f"Data: {r.task.get('source', fmt.MISSING)}; examples: "
                 + ", ".join(f"{k} {v}" for k, v in (r.task.get("sizes") or {}).items()),
                 *(f"Note: {n}" for n in r.task.get("notes") or [])])
    doc.heading("Compression", 2)
    options = r.extra.get("options_in_effect") or {}
    items = [f"Teacher: {r.config.get('teacher')} " + json.dumps(r.extra.get("teacher") or {}, sort_keys=True),
             f"Chain: {chain}; tuner: {tuner}; target sparsity: {fmt.MISSING if s is None else f'{s:g}'}; "
             f"seed {r.config.get('seed')}",
             "Training: " + json.dumps(r.config.get("train") or {}, sort_keys=True)]
    items += [f"Options of {name}: {json.dumps(opts, sort_keys=True)}" for name, opts in options.items()]
    doc.bullets([*items, *phase_notes])
    doc.heading("Evaluation", 2)
    doc.table(["Split", "Metric", "Teacher", "After compression", "Student", "Kept"], _metric_rows(r))
    doc.heading("Size and speed", 2)
    doc.table(["Model", "Encoder params", "Total params", "Size (MB)", "Measured sparsity", "Latency median (ms)",
               "Speed-up"], _size_rows(r))
    inf = r.student.inference
    bench = f"batch {inf.batch_size}, sequence length {inf.seq_length}, {inf.repeats} repeats" if inf else fmt.MISSING
    doc.para(f"Measured on: {_hardware(r)}. Latency: median over repeats ({bench}); speed-up = the teacher's "
             "median latency / the student's, both measured in this run on this machine.")
    doc.heading("Energy", 2)
    doc.bullets(_energy_lines(r))
    doc.para("Method labels: counter and sampled-power are measurements; estimate is computed from a model of "
             "power draw, not measured. Payback is derived from the figures above, not measured.")
    doc.heading("How to load", 2)
    body = doc.render().rstrip() + "\n\n" + _load_snippet(path) + "\n"
    meta = yaml.safe_dump(_metadata(r), sort_keys=False, allow_unicode=True)
    return f"---\n{meta}---\n\n# {title}\n\n{body}"


def write_card(r: RunResult, catalogue: Catalogue | None = None) -> Path | None:
    """Write ``README.md`` into the run's saved student folder; ``None`` when none was saved.
    ``catalogue``: where the chain's components' phase reports come from (their notes)."""
    where = r.extra.get("student_path")
    if r.status != "ok" or not where or not Path(where).is_dir():
        return None
    notes: list[str] = []
    if catalogue is not None:
        from greenprune.report import phase_reports
        from greenprune.report.types import phase_kind

        reports = phase_reports(catalogue)
        for phase in r.phases:
            found = reports.get(phase_kind(phase.name))
            if found is not None and found.notes is not None:
                notes += found.notes(phase)
    path = Path(where) / CARD_FILE
    path.write_text(render_card(r, Path(where), notes), encoding="utf-8")
    return path
