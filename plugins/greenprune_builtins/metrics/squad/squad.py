"""SQuAD exact match and F1 (v1.1 and v2.0) as an offline ``evaluate`` metric.

Loaded with ``evaluate.load(<this folder>)`` so no Hub access is needed. The evaluate import
scanner reads this file line by line, so every top-level import stays on a line of its own.
Written from the definition in the SQuAD papers and their evaluation protocol, not copied.
"""

from __future__ import annotations

import collections
import re
import string

import datasets
import evaluate

_DESCRIPTION = """
Exact match (EM) and token-level F1 of predicted answer texts against the gold answers, as the
SQuAD evaluation defines them. Both texts are normalised first: lower case, punctuation removed,
the articles "a", "an" and "the" removed, runs of whitespace collapsed. EM is 1 when the normalised
texts are equal; F1 is the harmonic mean of the precision and recall of the shared tokens (counted
with multiplicity). A question's score is the best over its gold answers, and the reported figures
are means over questions, in percent (0-100).

SQuAD 2.0 (``version_2=True``, or automatically when some question has no gold answer): an
unanswerable question's only gold answer is the empty text, so predicting "" scores 1 on both
metrics and any other text 0; gold answers that normalise to nothing are dropped, and when one side
normalises to no tokens, F1 is 1 if both do and 0 otherwise. The figures are also reported for
the answerable (HasAns_*) and unanswerable (NoAns_*) questions separately.

A reference without a prediction scores 0.
"""

_CITATION = """
@inproceedings{rajpurkar2016squad,
  title={{SQuAD}: 100,000+ Questions for Machine Comprehension of Text},
  author={Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
  booktitle={Proceedings of EMNLP},
  year={2016}
}
@inproceedings{rajpurkar2018know,
  title={Know What You Don't Know: Unanswerable Questions for {SQuAD}},
  author={Rajpurkar, Pranav and Jia, Robin and Liang, Percy},
  booktitle={Proceedings of ACL},
  year={2018}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of dict): {"id": str, "prediction_text": str}; "" means "no answer".
    references (list of dict): {"id": str, "answers": {"text": [str], "answer_start": [int]}}.
    version_2 (bool | None): SQuAD 2.0 scoring; None (default) = when some reference has no answer.
Returns:
    exact_match, f1 (float, 0-100), total (int); with version 2 also HasAns_exact_match, HasAns_f1,
    HasAns_total, NoAns_exact_match, NoAns_f1, NoAns_total (groups that are empty are left out).
Example:
    >>> metric = evaluate.load("path/to/squad")
    >>> metric.compute(predictions=[{"id": "1", "prediction_text": "The Denver Broncos"}],
    ...                references=[{"id": "1", "answers": {"text": ["Denver Broncos"], "answer_start": [0]}}])
    {'exact_match': 100.0, 'f1': 100.0, 'total': 1}
"""

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    # Articles go after punctuation, so "the," loses its comma first and then matches as a word.
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, empty_rule: bool) -> float:
    """Token-overlap F1. ``empty_rule`` (SQuAD 2.0): an empty side scores 1 only against empty."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if empty_rule and (not pred or not ref):
        return float(pred == ref)
    shared = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(pred), shared / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_question(prediction: str, golds: list[str], version_2: bool) -> tuple[float, float]:
    """(EM, F1) of one question: the best over its gold answers."""
    if version_2:
        # No answer at all (or only answers that normalise to nothing) means "" is the answer.
        golds = [g for g in golds if normalize_answer(g)] or [""]
    if not golds:  # a v1 question without gold answers cannot be matched
        return 0.0, 0.0
    return (max(exact(prediction, g) for g in golds),
            max(token_f1(prediction, g, version_2) for g in golds))


def _summary(scores: list[tuple[float, float]], prefix: str = "") -> dict[str, float]:
    n = len(scores)
    return {f"{prefix}exact_match": 100.0 * sum(s[0] for s in scores) / n,
            f"{prefix}f1": 100.0 * sum(s[1] for s in scores) / n, f"{prefix}total": n}


class Squad(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                "references": {
                    "id": datasets.Value("string"),
                    "answers": datasets.Sequence(
                        {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
                },
            }),
        )

    def _compute(self, predictions: list[dict], references: list[dict],
                 version_2: bool | None = None) -> dict[str, float]:
        predicted = {p["id"]: p["prediction_text"] for p in predictions}
        if version_2 is None:
            version_2 = any(not r["answers"]["text"] for r in references)
        if not references:
            raise ValueError("squad metric: no references to score")
        has_ans: list[tuple[float, float]] = []
        no_ans: list[tuple[float, float]] = []
        for ref in references:
            golds = list(ref["answers"]["text"])
            pred = predicted.get(ref["id"])
            score = (0.0, 0.0) if pred is None else score_question(pred, golds, version_2)
            (has_ans if golds else no_ans).append(score)
        out = _summary(has_ans + no_ans)
        if version_2:
            for prefix, group in (("HasAns_", has_ans), ("NoAns_", no_ans)):
                if group:
                    out.update(_summary(group, prefix))
        return out
