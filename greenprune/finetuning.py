"""Fine-tuning with a cache: the teacher (and any identical fine-tune) is trained once per key.

The key covers the pretrained model, the task, the exact training examples, the hyper-parameters
and the seed, so a later run (or another run of the same bench) reuses the model instead of paying
for it again. A cache entry is written to a temporary folder and renamed when complete, so an
interrupted fine-tune never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from greenprune.config import TrainConfig
from greenprune.context import PhaseOutput, RunContext
from greenprune.modeling import ModelBundle
from greenprune.tasks import Task, TaskData


def cache_key(pretrained: ModelBundle, task: Task, data: TaskData, cfg: TrainConfig, seed: int) -> str:
    key: dict[str, object] = {
        "model": pretrained.info.get("fingerprint", pretrained.name), "task": task.name,
        "data": data.fingerprint(), "train": cfg.model_dump(), "seed": seed,
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
    same fine-tune; details hold the training summary and ``cache_key``."""
    from greenprune.training_phase import train_phase

    key = cache_key(pretrained, task, data, cfg, ctx.config.seed)
    entry = ctx.cache_dir / "finetuned" / key
    meta_file = entry / "greenprune-finetune.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        model = task.auto_model_class().from_pretrained(entry)
        model.eval()
        ctx.progress.say(f"[dim]{description}: reusing cached fine-tune {key} ({entry})[/dim]")
        bundle = ModelBundle(model, pretrained.tokenizer, pretrained.name, "finetuned", {**pretrained.info})
        trace = meta.pop("trace", [])
        return PhaseOutput(bundle, {**meta, "cache_key": key}, trace=trace, cache_hit=True)
    bundle = pretrained.clone(origin="finetuned", pretrained=False)
    for p in bundle.model.parameters():
        p.requires_grad_(True)
    out = train_phase(ctx, bundle, task, data, cfg, description=description)
    out.details.update(pretrained=pretrained.name, cache_key=key)
    meta = {"train": out.details["train"], "trace": out.trace, "pretrained": pretrained.name}
    tmp = entry.with_name(entry.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bundle.model.save_pretrained(tmp)
    (tmp / "greenprune-finetune.json").write_text(json.dumps(meta))
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)
    return out


def default_cache_dir() -> Path:
    import os

    root = os.environ.get("GREENPRUNE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "greenprune")
    return Path(root)
