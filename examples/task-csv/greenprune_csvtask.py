"""An example greenprune plugin with a task and an evaluator.

* Task ``csv``: text classification from your own CSV files (columns ``text`` and ``label``, the
  label one of ``labels``), e.g. ``--task csv --set csv.train=train.csv --set csv.dev=dev.csv``.
* Evaluator ``balanced-accuracy``: the mean recall over classes (robust to a skewed dev set) and
  plain accuracy, from the model's predictions on each dev split.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, Evaluator, Metrics, Task, TaskData, UserError, hookimpl


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Plain strings (not Path): options are recorded in the results as JSON.
    train: str = Field(description="CSV with columns text,label: the training examples")
    dev: str = Field(description="CSV with columns text,label: the dev examples the evaluator scores")
    labels: list[str] = Field(["negative", "positive"], min_length=2, description="label names, in id order")


def make_task(options: CsvOptions) -> Task:
    return Task(name="csv", title=f"CSV ({Path(options.train).name})", kind="classification",
                num_labels=len(options.labels), metrics=("balanced_accuracy", "accuracy"),
                primary_metric="balanced_accuracy", label_names=tuple(options.labels),
                evaluator="balanced-accuracy", description="text classification from local CSV files")


def read_csv(name: str, labels: list[str]) -> list[dict[str, Any]]:
    """Rows as greenprune examples; a bad file or label is one line naming it and the fix."""
    path = Path(name)
    if not path.is_file():
        raise UserError(f"csv: no file at {path}; pass --set csv.train=FILE and --set csv.dev=FILE")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row.get("label") not in labels:
                raise UserError(f"csv: {path}:{line}: label {row.get('label')!r} is not one of {labels} "
                                "(set csv.labels to the names your file uses)")
            rows.append({"text_a": row["text"], "text_b": None, "label": labels.index(row["label"])})
    if not rows:
        raise UserError(f"csv: {path} has no rows (expected a header text,label and one row per example)")
    return rows


class BalancedAccuracy(Evaluator):
    def evaluate(self, ctx: Any, bundle: Any, task: Task, data: TaskData) -> Metrics:
        import torch  # heavy imports inside functions: `greenprune --help` stays fast

        from greenprune.api import encode, loader

        cfg, model = ctx.config.train, bundle.model
        model.eval()
        device = next(model.parameters()).device
        out = {}
        for split, examples in data.dev.items():
            preds: list[int] = []
            refs: list[int] = []
            features = encode(examples, bundle.tokenizer, task, cfg.max_length)
            for batch in loader(features, bundle.tokenizer, cfg.eval_batch_size, shuffle=False):
                refs += batch.pop("labels").tolist()
                with torch.inference_mode():
                    preds += model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1).tolist()
            out[split] = score(preds, refs)
        return out


def score(preds: list[int], refs: list[int]) -> dict[str, float]:
    pairs = list(zip(preds, refs, strict=True))
    recalls = [sum(p == c for p, r in pairs if r == c) / refs.count(c) for c in sorted(set(refs))]
    return {"balanced_accuracy": sum(recalls) / len(recalls),
            "accuracy": sum(p == r for p, r in pairs) / len(refs)}


@hookimpl
def greenprune_register_tasks(register: Any) -> None:
    register(Component("csv", factory=make_task, options=CsvOptions,
                       description="text classification from local CSV files (text,label)"))


@hookimpl
def greenprune_register_evaluators(register: Any) -> None:
    register(Component("balanced-accuracy", factory=lambda _opts: BalancedAccuracy(), task_kinds=("classification",),
                       description="mean recall over classes, and accuracy"))


@hookimpl
def greenprune_load_task_data(task: Task, ctx: Any) -> TaskData | None:
    if task.name != "csv":
        return None  # not ours: another plugin loads it
    opts = CsvOptions.model_validate(ctx.options("csv"))
    return TaskData(train=read_csv(opts.train, opts.labels), dev={"dev": read_csv(opts.dev, opts.labels)},
                    source=f"local CSV: {opts.train}, {opts.dev}")
