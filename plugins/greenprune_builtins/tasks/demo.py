"""The embedded ``demo`` task: a small, deterministic, clearly SYNTHETIC sentiment task that a
model can fail.

It exists so that ``greenprune bench`` runs with no data at all, and so that the first run shows
what compression costs. It is NOT a benchmark: every sentence comes from the templates and word
lists in this file. Three things keep it from being trivially separable:

* **composition**: a negation flips a clause ("not", "never", "hardly"), and in two-clause
  sentences the clause that decides the label depends on the connective ("A, but B" -> B,
  "although A, B" -> B, "A, even though B" -> A), so single words do not give the answer;
* **held-out words**: the dev set uses sentiment adjectives that never occur in training
  (``heldout_rate`` of its clauses), so scoring well needs what the pretrained model knows about
  words, which heavy pruning removes first;
* **label noise**: ``label_noise`` of the examples, train and dev alike, carry the wrong label (as
  annotators disagree in real data), so no model reaches 100%.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenprune.api import Component, Task, TaskData, hookimpl

# Adjectives seen in training; the dev set also draws from the held-out lists below.
_POSITIVE = ("good", "great", "lovely", "excellent", "pleasant", "wonderful", "superb", "delightful", "fine",
             "brilliant", "charming", "enjoyable", "fantastic", "nice", "perfect", "beautiful", "amazing",
             "impressive", "fun", "marvellous")
_NEGATIVE = ("bad", "awful", "terrible", "poor", "dreadful", "boring", "horrible", "dull", "weak", "lousy",
             "disappointing", "annoying", "ugly", "mediocre", "unpleasant", "painful", "miserable", "bland",
             "tedious", "nasty")
# Never in training: only a model that knows these words (from pretraining) gets them right.
_POSITIVE_HELDOUT = ("splendid", "terrific", "magnificent", "gorgeous", "outstanding", "stunning", "glorious",
                     "exquisite", "remarkable", "heavenly", "sublime", "joyful")
_NEGATIVE_HELDOUT = ("atrocious", "abysmal", "appalling", "horrendous", "pathetic", "dismal", "wretched",
                     "inferior", "gloomy", "shoddy", "lame", "tiresome")
_SUBJECTS = ("the film", "the meal", "the hotel", "this book", "the concert", "our trip", "the service",
             "the game", "that song", "the room", "the lecture", "the show", "the staff", "the ending",
             "the plot", "the food", "the music", "the view")
_NEGATIONS = ("not ", "never ", "hardly ")
_INTENSIFIERS = ("", "", "very ", "really ", "quite ", "rather ", "truly ")
_VERBS = ("was", "is", "seemed", "felt")
#: (template, which clause decides the label)
_CONNECTIVES = (("{a}, but {b}.", "b"), ("although {a}, {b}.", "b"), ("{a}, even though {b}.", "a"),
                ("{a}, and {b}.", "both"))


class DemoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train_size: int = Field(2000, ge=8, description="synthetic training examples")
    dev_size: int = Field(400, ge=8, description="synthetic dev examples")
    negation_rate: float = Field(0.3, ge=0, le=1, description="share of clauses with a negation (label flipped)")
    two_clause_rate: float = Field(0.5, ge=0, le=1, description="share of two-clause sentences (but/although/...)")
    heldout_rate: float = Field(0.5, ge=0, le=1, description="share of dev clauses whose adjective never occurs "
                                "in training")
    label_noise: float = Field(0.05, ge=0, lt=0.5, description="share of examples given the wrong label")


def _clause(rng: random.Random, positive: bool, negation_rate: float, heldout: bool) -> str:
    negated = rng.random() < negation_rate
    words = (_POSITIVE_HELDOUT if heldout else _POSITIVE) if positive != negated else (
        _NEGATIVE_HELDOUT if heldout else _NEGATIVE)
    neg = rng.choice(_NEGATIONS) if negated else ""
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {neg}{rng.choice(_INTENSIFIERS)}{rng.choice(words)}"


def generate(n: int, seed: int, negation_rate: float = 0.3, *, two_clause_rate: float = 0.5,
             heldout_rate: float = 0.0, label_noise: float = 0.0) -> list[dict[str, Any]]:
    """``n`` examples from ``seed`` (the same arguments always give the same rows). A clause is
    built to *mean* its polarity: a negated clause takes an adjective of the opposite sign."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        positive = rng.random() < 0.5
        held = rng.random() < heldout_rate
        if rng.random() < two_clause_rate:
            template, decides = rng.choice(_CONNECTIVES)
            # "and" joins clauses of one polarity; the others contrast the deciding clause with the other.
            other = positive if decides == "both" else not positive
            first, second = (positive, other) if decides in ("a", "both") else (other, positive)
            text = template.format(a=_clause(rng, first, negation_rate, held),
                                   b=_clause(rng, second, negation_rate, held and rng.random() < 0.5))
        else:
            text = _clause(rng, positive, negation_rate, held) + "."
        label = int(positive)
        if rng.random() < label_noise:
            label = 1 - label
        rows.append({"text_a": text, "text_b": None, "label": label})
    return rows


#: What the demo runs with unless the user sets otherwise (flags, TOML, --set win). The budget is
#: the first run's: under 5 minutes on 2 cores for the teacher and two CoFi students, each tuned.
#: On 2 quiet cores a MiniLM step costs about the same at batch 8 as at 16 (0.30 vs 0.32 s for the
#: teacher, ~0.35 s for CoFi: the optimizer update over all 22.7M weights dominates), so steps are
#: the currency: batches of 16 for 1 epoch give every phase 125 steps on the 2,000 examples, five
#: phases in about 3 minutes. CoFi's gates end near the target by learning (measured: expected
#: sparsity 0.554 for 0.5 and 0.863 for 0.9, final shifts +0.53 and -0.40); its controller settles
#: in ~500 steps, which `--set cofi.epochs=4` gives it. Inference is measured at 32 tokens, which
#: holds the longest demo sentence (20 tokens with the MiniLM tokenizer) where GLUE's 128 would time
#: mostly padding.
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "train": {"batch_size": 16, "epochs": 1.0}, "inference": {"seq_length": 32}}

DEMO = Task(
    name="demo", title="Demo (synthetic)", kind="classification", num_labels=2,
    metrics=("accuracy", "f1"), primary_metric="accuracy", label_names=("negative", "positive"),
    evaluator="glue", synthetic=True,
    description="embedded synthetic sentiment task (negation, contrast, held-out words, label noise); "
                "not a benchmark",
    config_defaults=CONFIG_DEFAULTS,
)


@hookimpl
def greenprune_register_tasks(register: Any) -> None:
    register(Component("demo", factory=lambda opts: DEMO, options=DemoOptions,
                       description="embedded synthetic sentiment task (default; not a benchmark): negation, "
                                   "contrast clauses, held-out dev words, 5% label noise"))


@hookimpl
def greenprune_load_task_data(task: Task, ctx: Any) -> TaskData | None:
    if task.name != "demo":
        return None
    o = DemoOptions.model_validate(ctx.options("demo"))
    shape = {"negation_rate": o.negation_rate, "two_clause_rate": o.two_clause_rate, "label_noise": o.label_noise}
    return TaskData(
        train=generate(o.train_size, 1, **shape),
        dev={"dev": generate(o.dev_size, 2, heldout_rate=o.heldout_rate, **shape)},
        source="embedded synthetic (greenprune demo task)",
        notes=["SYNTHETIC data generated by greenprune for a quick offline run; not a benchmark. Sentences "
               "from templates: negation, contrast clauses (but/although/even though), dev adjectives held "
               f"out of training ({o.heldout_rate:.0%} of dev clauses), {o.label_noise:.0%} of labels flipped "
               "at random (so 100% is out of reach). For real numbers: --task mrpc --data-dir DIR "
               "(a folder in the GLUE TSV layout)"],
    )
