"""Students saved by a run, loaded back and checked against what the run recorded.

``greenprune verify OUT`` reloads every student under ``OUT/models/`` (through the
``greenprune_load_student`` hook, so a plugin that saves extra weights, e.g. adapters, loads them
too), rebuilds the run's dev data from its recorded config, scores it with the run's evaluator and
compares with the metrics in ``OUT/results.jsonl``. Equal metrics on the whole dev set show the
saved file *is* the model that was measured, not a lookalike that lost a head or its adapters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenprune.errors import UserError

#: largest difference between a recorded and a recomputed metric that still counts as equal
#: (the same float32 forward on the same CPU is deterministic; this only absorbs JSON rounding)
TOLERANCE = 1e-9


@dataclass
class Verdict:
    run_key: str
    label: str
    path: str
    recorded: dict[str, dict[str, float]]
    reloaded: dict[str, dict[str, float]]
    #: why the student could not be checked (missing, unreadable weights, ...): one line
    error: str | None = None
    #: largest metric difference that counts as equal (``greenprune export``: the export's own rule)
    tolerance: float = TOLERANCE

    @property
    def max_diff(self) -> float:
        diffs = [abs(self.recorded.get(split, {}).get(k, float("nan")) - v)
                 for split, metrics in self.reloaded.items() for k, v in metrics.items()]
        return max(diffs, default=float("nan"))

    @property
    def identical(self) -> bool:
        # NaN (a metric missing on one side) is not identical
        return self.error is None and self.max_diff <= self.tolerance


def model_class(architectures: list[str] | None, model_type: str | None = None) -> Any:
    """The class a saved config names: greenprune's compact encoder or a transformers class, else
    ``AutoModelForSequenceClassification``."""
    import transformers

    import greenprune.structure.compact as compact  # also registers the compact classes with the Auto classes

    for arch in architectures or []:
        cls = compact.class_named(arch) or getattr(transformers, arch, None)
        if cls is not None:
            return cls
    classes = compact.classes_of(model_type or "")
    if classes is not None:
        return classes.sequence
    return transformers.AutoModelForSequenceClassification


def load_student(pm: Any, path: Path) -> Any:
    """The saved model, through the plugins first, else the class its config names."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one "Loading weights" bar per student would bury the verdicts
    model = pm.hook.greenprune_load_student(path=path)
    if model is not None:
        return model
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return model_class(config.get("architectures"), config.get("model_type")).from_pretrained(str(path)).eval()


@dataclass
class Replay:
    """What re-scoring a run's saved student needs: its context, task, evaluator, seeded dev data."""

    ctx: Any
    task: Any
    evaluator: Any
    data: Any
    path: Path
    label: str

    def score(self, model: Any) -> dict[str, dict[str, float]]:
        """``model`` (anything called like the saved student) scored on the run's dev data."""
        from transformers import AutoTokenizer

        from greenprune.modeling import ModelBundle

        bundle = ModelBundle(model, AutoTokenizer.from_pretrained(str(self.path)), str(self.path), "saved")
        return self.evaluator.evaluate(self.ctx, bundle, self.task, self.data)


def replay(result: Any, out_dir: Path, *, disable: list[str], progress: Any) -> Replay:
    """Rebuild the run's context, evaluator and dev data from its recorded config."""
    from greenprune.components import collect
    from greenprune.config import RunConfig
    from greenprune.context import RunContext
    from greenprune.finetuning import default_cache_dir
    from greenprune.phases import load_task_data, task_and_evaluator
    from greenprune.plugins import make_plugin_manager

    # Always this folder's own copy: the recorded student_path names where the run wrote it,
    # which for a copied or moved results folder is somebody else's file.
    path = Path(out_dir) / "models" / result.run_key
    if not (path / "config.json").is_file():
        raise UserError(f"no saved student at {str(path)!r} (its config.json is missing)")
    cfg = RunConfig.model_validate(result.config)
    pm = make_plugin_manager(disable)
    catalogue = collect(pm)
    ctx = RunContext(config=cfg, pm=pm, catalogue=catalogue, out_dir=out_dir,
                     cache_dir=cfg.cache_dir or default_cache_dir(), progress=progress,
                     result=result.model_copy(deep=True))
    task, evaluator = task_and_evaluator(ctx)
    data = load_task_data(ctx, task)  # the run's recorded config: the same seeded subsample
    label = f"{cfg.task} {'+'.join(cfg.compressors)} / {cfg.tuner}" + (
        f" @ sparsity {cfg.sparsity:g}" if cfg.sparsity is not None else "")
    return Replay(ctx, task, evaluator, data, path, label)


def verify_run(result: Any, out_dir: Path, *, disable: list[str], progress: Any) -> Verdict:
    """Reload one run's saved student and score it exactly as the run did."""
    run = replay(result, out_dir, disable=disable, progress=progress)
    reloaded = run.score(load_student(run.ctx.pm, run.path))
    return Verdict(result.run_key, run.label, str(run.path), result.student.metrics, reloaded)


def saved_runs(out_dir: Path) -> list[Any]:
    """The finished runs of ``out_dir`` that saved a student."""
    from greenprune.results import ResultStore, latest_per_key

    results = [r for r in latest_per_key(ResultStore(out_dir).load())
               if r.status == "ok" and r.extra.get("student_path")]
    if not results:
        raise UserError(f"no finished run with a saved student in {str(out_dir)!r} "
                        "(bench with save_student=true, the default, writes OUT/models/<run_key>)")
    return results


def verify_dir(out_dir: Path, *, disable: list[str], progress: Any) -> list[Verdict]:
    return [_verdict(r, out_dir, disable=disable, progress=progress) for r in saved_runs(out_dir)]


def _verdict(result: Any, out_dir: Path, *, disable: list[str], progress: Any) -> Verdict:
    """``verify_run``, or a failed verdict with the reason on one line: one broken student (gone,
    truncated weights, data no longer there) does not stop the others from being checked."""
    try:
        return verify_run(result, out_dir, disable=disable, progress=progress)
    except Exception as exc:  # any reason at all is this run's verdict, not the command's end
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        if not isinstance(exc, UserError):
            reason = f"{type(exc).__name__}: {reason}"
        cfg = result.config
        label = f"{cfg.get('task')} {'+'.join(cfg.get('compressors') or [])} / {cfg.get('tuner')}"
        return Verdict(result.run_key, label, str(Path(out_dir) / "models" / result.run_key),
                       result.student.metrics, {}, error=reason)
