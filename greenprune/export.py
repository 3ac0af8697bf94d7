"""``greenprune export OUT --format onnx``: a run's saved student as an ONNX file, checked.

The student is loaded the way ``greenprune verify`` loads it (through the plugins, so any chain's
student comes back: compact, layer-dropped, with adapters), exported with
:func:`greenprune.onnx_runtime.export_model` next to the saved model (``model.onnx``; a student in a
plugin's own form, e.g. int8, by that plugin), loaded into ONNX Runtime and scored on the run's own
dev data with the run's evaluator. The ONNX metrics are shown beside the recorded ones; they count
as equal within the export's ``ParityRule.metric_tolerance`` (1e-4 for a float32 graph, which rounds
differently from PyTorch at ~1e-7: that can move a correlation in its 7th digit or, rarely, flip
one borderline prediction, so the check is not bit-exact like ``verify``; the int8 plugin states
its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenprune.errors import UserError
from greenprune.saved import Verdict

FORMATS = ("onnx",)


def export_run(result: Any, out_dir: Path, *, disable: list[str], progress: Any, output: Path | None = None,
               check: bool = True) -> tuple[Path, Verdict | None]:
    """Export one run's saved student; with ``check``, score the ONNX file in ONNX Runtime."""
    from transformers import AutoTokenizer

    from greenprune import onnx_runtime
    from greenprune.saved import load_student, replay

    onnx_runtime.check_available()
    run = replay(result, out_dir, disable=disable, progress=progress)
    model = load_student(run.ctx.pm, run.path)
    tokenizer = AutoTokenizer.from_pretrained(str(run.path))
    dev = next(iter(run.data.dev.values()))
    first = dev[0]
    batch = dict(tokenizer([first.get("text_a") or "a"], [first.get("text_b") or ""] if first.get("text_b") else None,
                           return_tensors="pt"))
    target = output or run.path / "model.onnx"
    done = onnx_runtime.export_model(model, batch, target, pm=run.ctx.pm)
    if not check:
        return target, None
    scored = run.score(onnx_runtime.OrtModel(target))
    return target, Verdict(result.run_key, run.label, str(target), result.student.metrics, scored,
                           tolerance=done.rule.metric_tolerance)


def export_dir(out_dir: Path, fmt: str, *, run_key: str | None, output: Path | None, disable: list[str],
               progress: Any, check: bool = True) -> list[tuple[Path, Verdict | None]]:
    from greenprune.saved import saved_runs

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not supported; use one of: {', '.join(FORMATS)}")
    runs = saved_runs(out_dir)
    if run_key is not None:
        runs = [r for r in runs if r.run_key.startswith(run_key)]
        if len(runs) != 1:
            raise UserError(f"--run {run_key!r} matches {len(runs)} saved students in {str(out_dir)!r}; "
                            "give a run key from results.jsonl (a unique prefix is enough)")
    if output is not None and len(runs) > 1:
        raise UserError(f"--output names one file but {str(out_dir)!r} holds {len(runs)} saved students; add --run KEY")
    return [export_run(r, out_dir, disable=disable, progress=progress, output=output, check=check) for r in runs]
