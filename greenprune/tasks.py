"""Tasks and their data. A task is data (names, fields, metrics); loading is a provider hook."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Literal

#: One example: ``{"text_a": str, "text_b": str | None, "label": int | float}``; a question-answering
#: example (``kind == "qa"``) is ``{"id", "title", "question", "context", "answers": {"text": [...],
#: "answer_start": [...]}}`` plus ``text_a``/``text_b`` (question/context) for code that reads text pairs.
Example = dict[str, Any]


@dataclass(frozen=True)
class Task:
    """What a task is (kind ``task`` components build one); its data comes from
    ``greenprune_load_task_data``."""

    #: the name users pass to ``--task``
    name: str
    #: display name for reports (``MRPC``)
    title: str
    #: decides the model head and the evaluators that can score it
    kind: Literal["classification", "regression", "qa"]
    #: classes of a classification head (1 for regression; unused for QA)
    num_labels: int
    #: the metrics the evaluator reports, official ones first
    metrics: tuple[str, ...]
    #: the metric reports compare models by
    primary_metric: str
    #: class names, index = label id
    label_names: tuple[str, ...] = ()
    #: the dev splits ``TaskData.dev`` holds (MNLI: matched and mismatched)
    dev_splits: tuple[str, ...] = ("dev",)
    #: the evaluator used when the config names none
    evaluator: str = "glue"
    #: True for made-up data (reports say it is not a benchmark)
    synthetic: bool = False
    description: str = ""
    #: config values this task runs best with, per section (``{"train": {"batch_size": 16}}``):
    #: applied to a bench on this task wherever the user set nothing (flags, TOML, ``--set`` win).
    #: Results record the values in effect, so a run states what it used.
    config_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "kind": self.kind, "num_labels": self.num_labels,
            "metrics": list(self.metrics), "primary_metric": self.primary_metric,
            "dev_splits": list(self.dev_splits), "synthetic": self.synthetic,
        }

    def auto_model_class(self) -> Any:
        """The transformers Auto class of this task's model head (QA: start/end span logits)."""
        import transformers

        if self.kind == "qa":
            return transformers.AutoModelForQuestionAnswering
        return transformers.AutoModelForSequenceClassification


@dataclass
class TaskData:
    """A task's examples, as a ``greenprune_load_task_data`` provider returns them."""

    #: training examples (see :data:`Example`)
    train: list[Example]
    #: dev split name -> examples
    dev: dict[str, list[Example]]
    #: where the data came from, e.g. ``local:/data/glue/MRPC`` or ``embedded synthetic``
    source: str
    #: caveats printed at run start and kept in the result (subsampling, a missing split, ...)
    notes: list[str] = field(default_factory=list)

    def subsample(self, max_train: int | None, max_eval: int | None, seed: int) -> TaskData:
        """A deterministic random subset (the same seed always picks the same examples)."""

        def pick(rows: list[Example], n: int | None, salt: str) -> list[Example]:
            if n is None or n >= len(rows):
                return rows
            idx = sorted(random.Random(f"{seed}:{salt}").sample(range(len(rows)), n))
            return [rows[i] for i in idx]

        notes = list(self.notes)
        if max_train is not None and max_train < len(self.train):
            notes.append(f"train subsampled to {max_train} of {len(self.train)} examples (seed {seed})")
        if max_eval is not None and any(max_eval < len(v) for v in self.dev.values()):
            notes.append(f"dev subsampled to at most {max_eval} examples per split (seed {seed})")
        return TaskData(
            train=pick(self.train, max_train, "train"),
            dev={k: pick(v, max_eval, k) for k, v in self.dev.items()},
            source=self.source,
            notes=notes,
        )

    def fingerprint(self) -> str:
        """Hash of the examples (part of the teacher cache key)."""
        h = hashlib.sha256()
        for row in self.train:
            h.update(json.dumps(row, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), **{k: len(v) for k, v in self.dev.items()}}
