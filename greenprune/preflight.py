"""Pre-flight: every check that can run before the work does, so bad input costs seconds.

``runner.validate`` checks names and options against the plugins; this module adds what needs a
file or the teacher's configuration: the output folder can be written, the chain is one its
compressors accept, the teacher is of a family the plugins handle and its positions hold the
configured lengths, plugin checks against the teacher's shape (``greenprune_preflight``), and the
task's data can be found (``greenprune_check_task_data``). All of it before a meter starts, the
idle baseline runs, or any data or weights load.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenprune.errors import UserError

if TYPE_CHECKING:
    from greenprune.components import Catalogue
    from greenprune.config import BenchConfig


def check_out_dir(out: Path) -> None:
    """``out`` is (or can be made) a folder this process can write: created now, and probed
    with a temporary file, so an unusable ``--out`` fails here and not when the first result is saved."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, not a folder; pass a folder (created if missing)")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"--out {str(out)!r} cannot be created: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {str(out)!r}: {str(existing)!r} is not writable (read-only); pass a folder you "
                        "can write to")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".greenprune-probe-"):
            pass
    except OSError as exc:
        raise UserError(f"--out {str(out)!r} is not writable ({exc.strerror or exc}); pass a folder you can "
                        "write to") from None
    for name, folder in (("results.jsonl", False), ("models", True)):
        path = out / name
        if path.exists() and path.is_dir() != folder:
            raise UserError(f"--out {str(out)!r}: {str(path)!r} should be a {'folder' if folder else 'file'}; "
                            "move it away or pass another --out")


def check_chain(compressors: list[str], catalogue: Catalogue) -> None:
    """A compressor that cannot take its own output appears once in the chain."""
    for name in dict.fromkeys(compressors):
        if compressors.count(name) > 1 and not catalogue.get("compressor", name).accepts_own_output:
            raise UserError(f"--compressor {name} appears twice in the chain {' + '.join(compressors)}, but {name} "
                            "cannot compress a model it already compressed; use it once")


def check_bench(bench: BenchConfig, pm: Any, catalogue: Catalogue, out: Path | None = None) -> None:
    """Everything about ``bench`` that files and the teacher's configuration can tell."""
    if out is not None:
        check_out_dir(out)
    task = catalogue.get("task", bench.task).build(bench.options.get(bench.task))
    teacher_config = pm.hook.greenprune_teacher_config(spec=bench.teacher)
    if teacher_config is not None:
        check_family(bench.teacher, teacher_config, pm)
        check_lengths(bench, task, teacher_config)
        for run in bench.runs():
            pm.hook.greenprune_preflight(config=run, teacher_config=teacher_config)
    pm.hook.greenprune_check_task_data(task=task, config=bench)


def check_family(spec: str, teacher_config: Any, pm: Any) -> None:
    """The teacher is of a family the structure layer knows (``greenprune.structure.families``)
    or a plugin declares (``greenprune_model_families``): size accounting and surgery need it."""
    from greenprune.structure.families import FAMILIES

    declared = [t for family in FAMILIES for t in family.model_types if not t.startswith("greenprune-")]
    families = sorted({*declared, *(f for more in pm.hook.greenprune_model_families() for f in more or ())})
    kind = getattr(teacher_config, "model_type", None)
    if families and kind not in families:
        arch = ", ".join(getattr(teacher_config, "architectures", None) or []) or "no architectures listed"
        raise UserError(f"teacher {spec!r} is a {kind} model ({arch}); the installed plugins support "
                        f"{', '.join(families)} teachers: pass a model folder or Hub id of one of these families")


def check_lengths(bench: BenchConfig, task: Any, teacher_config: Any) -> None:
    """Every sequence length the run will feed the teacher fits its position embeddings (as many as
    its family can index: RoBERTa's start after the padding id, ``greenprune.structure.families``)."""
    from greenprune.structure.families import usable_positions

    positions = usable_positions(teacher_config)
    if positions is None:
        return
    rows = teacher_config.max_position_embeddings
    held = f"max_position_embeddings {rows} in its config" + (
        "" if positions == rows else f"; {positions} usable, its positions start after the padding id")
    # A task with its own window (extractive QA) uses it instead of train.max_length.
    own = getattr(task, "max_length", None)
    lengths = {f"{task.name}.max_length": own} if isinstance(own, int) else {"train.max_length":
                                                                               bench.train.max_length}
    if bench.inference.enabled:
        lengths["inference.seq_length"] = bench.inference.seq_length
    for name, length in lengths.items():
        if length > positions:
            raise UserError(f"{name}={length} is longer than teacher {bench.teacher!r} can read "
                            f"({held}); use {name}<={positions}")
