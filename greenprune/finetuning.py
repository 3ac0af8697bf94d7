"""Fine-tuning with a cache: the teacher (and any identical fine-tune) is trained once per key.

The key covers the pretrained model, the task, the exact training examples, the hyper-parameters
and the seed, so a later run (or another run of the same bench) reuses the model instead of paying
for it again. Entries are shared safely between processes (a lock per key, a private temporary
folder per writer renamed when complete, a checked manifest): see :mod:`greenprune.model_cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from greenprune.config import TrainConfig, train_key
from greenprune.context import PhaseOutput, RunContext
from greenprune.model_cache import check_entry, discard, private_folder, publish, writer_lock
from greenprune.modeling import ModelBundle
from greenprune.tasks import Task, TaskData

META = "greenprune-finetune.json"


def cache_key(pretrained: ModelBundle, task: Task, data: TaskData, cfg: TrainConfig, seed: int) -> str:
    key: dict[str, object] = {
        "model": pretrained.info.get("fingerprint", pretrained.name), "task": task.name,
        "data": data.fingerprint(), "train": train_key(cfg.model_dump()), "seed": seed,
    }
    if task.kind == "qa":
        # QA windows (max_length, doc_stride, ...) are task settings that change the training
        # features; other kinds add nothing, so their existing cache entries stay valid.
        key["task_settings"] = task.as_dict()
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def finetune_cached(ctx: RunContext, pretrained: ModelBundle, task: Task, data: TaskData,
                    cfg: TrainConfig, description: str) -> PhaseOutput[ModelBundle]:
    """Fine-tune a copy of ``pretrained`` (every weight trains), or reuse the cached result of the
    same fine-tune; details hold the training summary and ``cache_key``.

    The main process holds the entry's lock from the check to the rename (another process with
    the same key waits, then reuses the entry); in a multi-process run it tells the others what
    it found, and they either take its weights or train with it (data-parallel)."""
    from greenprune import distributed as dist
    from greenprune.training_phase import train_phase

    key = cache_key(pretrained, task, data, cfg, ctx.config.seed)
    entry = ctx.cache_dir / "finetuned" / key
    lock = writer_lock(entry, ctx.progress.say) if dist.is_main() else contextlib.nullcontext()
    with lock:
        found = _load_entry(ctx, entry, task) if dist.is_main() else None
        meta = dist.broadcast(found[1] if found else None)
        if meta is not None:
            model = _main_weights(found[0] if found else pretrained.clone(origin="finetuned", pretrained=False).model)
            ctx.progress.say(f"[dim]{description}: reusing cached fine-tune {key} ({entry})[/dim]")
            bundle = ModelBundle(model, pretrained.tokenizer, pretrained.name, "finetuned", {**pretrained.info})
            meta = dict(meta)
            trace = meta.pop("trace", [])
            return PhaseOutput(bundle, {**meta, "cache_key": key}, trace=trace, cache_hit=True)
        bundle = pretrained.clone(origin="finetuned", pretrained=False)
        for p in bundle.model.parameters():
            p.requires_grad_(True)
        out = train_phase(ctx, bundle, task, data, cfg, description=description)
        out.details.update(pretrained=pretrained.name, cache_key=key)
        if dist.is_main():
            folder = private_folder(entry)
            bundle.model.save_pretrained(folder)
            meta = {"train": out.details["train"], "trace": out.trace, "pretrained": pretrained.name}
            (folder / META).write_text(json.dumps(meta))
            publish(folder, entry)
    return out


def _load_entry(ctx: RunContext, entry: Path, task: Task) -> tuple[Any, dict[str, Any]] | None:
    """The entry's model and metadata, or ``None`` when there is none; a damaged entry is named
    in one line and removed (the caller rebuilds it)."""
    if not entry.exists():
        return None
    problem = check_entry(entry, META)
    if problem is None:
        try:
            meta = json.loads((entry / META).read_text())
            model = task.auto_model_class().from_pretrained(entry)
        except Exception as exc:  # an entry from before manifests, damaged: loading was its check
            problem = f"it does not load ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        else:
            model.eval()
            return model, meta
    ctx.progress.say(f"[yellow]teacher cache: {entry} is damaged: {problem}; rebuilding it[/yellow]")
    discard(entry)
    return None


def _main_weights(model: Any) -> Any:
    """``model`` carrying the main process's weights: the main process (which loaded the entry)
    sends them, every other process (holding a copy of the pretrained model) receives them. Every
    process must call it: with only the others calling, they waited for the main process forever."""
    from greenprune import distributed as dist

    dist.sync_module(model)
    model.eval()
    return model


def default_cache_dir() -> Path:
    import os

    root = os.environ.get("GREENPRUNE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "greenprune")
    return Path(root)
