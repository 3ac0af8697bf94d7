"""Extractive question answering (SQuAD-style): the task type, feature encoding and post-processing.

A context longer than one window is cut into overlapping windows (``doc_stride`` tokens shared by
neighbours), each a *feature* of ``[CLS] question [SEP] context-window [SEP]``. Training features
carry the answer's start/end token, or the [CLS] index when the answer is not wholly inside the
window (and for unanswerable SQuAD 2.0 questions), so the model learns to point at [CLS] for "not
here". Evaluation features keep their example and the character offsets of their context tokens;
post-processing turns the start/end logits of all windows of a question back into one answer text.

No torch at import time: the task plugin imports :class:`QATask` while the CLI only lists plugins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from greenprune.errors import UserError
from greenprune.tasks import Example, Task

#: keys of a feature that the model consumes (everything a QA model's forward accepts besides labels)
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


@dataclass(frozen=True)
class QATask(Task):
    """A question-answering task: the window and decoding settings travel with it, so the tuner,
    the compressors and the evaluator all build the same features."""

    version_2: bool = False
    #: tokens per window (question + context + special tokens)
    max_length: int = 384
    #: tokens shared by two consecutive windows of a long context
    doc_stride: int = 128
    #: questions are clipped to this many tokens so a long question cannot squeeze out the context
    max_query_length: int = 64
    #: longest answer span considered at decoding time, in tokens
    max_answer_length: int = 30
    #: start and end candidates considered per window
    n_best: int = 20
    #: SQuAD 2.0: answer "no answer" when null score - best span score > this
    null_threshold: float = 0.0
    #: how the data was split (see the squad task plugin); recorded with the results
    split_from: str | None = None
    train_articles: float = 0.8
    split_seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        qa = {k: getattr(self, k) for k in ("version_2", "max_length", "doc_stride", "max_query_length",
                                             "max_answer_length", "n_best", "null_threshold", "split_from",
                                             "train_articles", "split_seed")}
        return {**super().as_dict(), "qa": qa}


@dataclass
class EvalFeature:
    """What post-processing needs to know about one evaluation window."""

    example: int
    #: per token: (start, end) character offsets in the context, or None outside the context
    offsets: list[tuple[int, int] | None]
    cls_index: int


def _check_tokenizer(tokenizer: Any, task: QATask) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"task {task.name!r} needs a fast tokenizer (character offsets); "
                        f"{type(tokenizer).__name__} is not one")
    # Start/end positions are counted from the left; left padding would shift every label.
    if getattr(tokenizer, "padding_side", "right") != "right":
        raise UserError(f"task {task.name!r} needs a tokenizer that pads on the right")
    room = task.max_length - task.max_query_length - tokenizer.num_special_tokens_to_add(pair=True)
    if task.doc_stride >= room:
        raise UserError(f"{task.name}.doc_stride={task.doc_stride} leaves no new context per window: it must be "
                        f"below max_length - max_query_length - special tokens = {room}; lower doc_stride or "
                        "max_query_length, or raise max_length")


def clip_questions(questions: Sequence[str], tokenizer: Any, max_tokens: int) -> list[str]:
    """Questions without leading blanks (a few SQuAD questions have many) and cut after
    ``max_tokens`` tokens, keeping the original characters."""
    stripped = [q.lstrip() for q in questions]
    enc = tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
    return [q if len(offs) <= max_tokens else q[: offs[max_tokens - 1][1]]
            for q, offs in zip(stripped, enc["offset_mapping"], strict=True)]


def _windows(examples: list[Example], tokenizer: Any, task: QATask) -> Any:
    _check_tokenizer(tokenizer, task)
    questions = clip_questions([e["question"] for e in examples], tokenizer, task.max_query_length)
    return tokenizer(questions, [e["context"] for e in examples], truncation="only_second",
                     max_length=task.max_length, stride=task.doc_stride, return_overflowing_tokens=True,
                     return_offsets_mapping=True)


def _context_tokens(seq_ids: Sequence[int | None]) -> list[int]:
    # The context is the second sequence of the pair (question first, as BERT was trained on SQuAD).
    return [t for t, s in enumerate(seq_ids) if s == 1]


def _cls_index(input_ids: Sequence[int], tokenizer: Any) -> int:
    cls = tokenizer.cls_token_id
    return input_ids.index(cls) if cls is not None and cls in input_ids else 0


def answer_tokens(offsets: Sequence[tuple[int, int]], seq_ids: Sequence[int | None], start_char: int,
                  end_char: int) -> tuple[int, int] | None:
    """First and last token of the answer ``[start_char, end_char)`` in this window, or None when
    the answer is not wholly inside the window's context."""
    ctx = _context_tokens(seq_ids)
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return None
    # The first token ending after the answer starts, and the last token starting before it ends.
    start = next(t for t in ctx if offsets[t][1] > start_char)
    end = next(t for t in reversed(ctx) if offsets[t][0] < end_char)
    return start, end


def encode_train(examples: list[Example], tokenizer: Any, task: QATask) -> list[dict[str, Any]]:
    """Training features with ``start_positions``/``end_positions`` (the first gold answer)."""
    if not examples:
        return []
    enc = _windows(examples, tokenizer, task)
    feats = []
    for i, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
        ex = examples[ex_idx]
        row = {k: enc[k][i] for k in MODEL_INPUTS if k in enc}
        span = None
        texts, starts = ex["answers"]["text"], ex["answers"]["answer_start"]
        if texts:
            start_char = int(starts[0])
            span = answer_tokens(enc["offset_mapping"][i], enc.sequence_ids(i), start_char,
                                 start_char + len(texts[0]))
        cls = _cls_index(row["input_ids"], tokenizer)
        row["start_positions"], row["end_positions"] = span if span is not None else (cls, cls)
        feats.append(row)
    return feats


def encode_eval(examples: list[Example], tokenizer: Any, task: QATask) -> tuple[list[dict[str, Any]],
                                                                                 list[EvalFeature]]:
    """Model inputs of every window, and per window its example and context offsets."""
    if not examples:
        return [], []
    enc = _windows(examples, tokenizer, task)
    feats, metas = [], []
    for i, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
        row = {k: enc[k][i] for k in MODEL_INPUTS if k in enc}
        ctx = set(_context_tokens(enc.sequence_ids(i)))
        offsets = [tuple(o) if t in ctx else None for t, o in enumerate(enc["offset_mapping"][i])]
        feats.append(row)
        metas.append(EvalFeature(example=int(ex_idx), offsets=offsets, cls_index=_cls_index(row["input_ids"],
                                                                                            tokenizer)))
    return feats, metas


def _top(values: Any, n: int) -> list[int]:
    import numpy as np

    return [int(i) for i in np.argsort(values)[::-1][:n]]


def best_span(context: str, windows: list[tuple[EvalFeature, Any, Any]], task: QATask) -> tuple[str, float, float]:
    """The best-scoring answer over all windows of one question.

    :return: (text, span score, null score); the span score is ``-inf`` when no valid span exists,
        the null score is the lowest [CLS] start+end score over the windows (the original BERT rule).
    """
    best_text, best, null = "", -math.inf, math.inf
    for meta, start, end in windows:
        null = min(null, float(start[meta.cls_index] + end[meta.cls_index]))
        offs = meta.offsets
        ends = [e for e in _top(end, task.n_best) if e < len(offs) and offs[e] is not None]
        for s in _top(start, task.n_best):
            first = offs[s] if s < len(offs) else None
            if first is None:
                continue
            for e in ends:
                last = offs[e]
                if last is None or e < s or e - s + 1 > task.max_answer_length:
                    continue
                score = float(start[s] + end[e])
                if score > best:
                    best, best_text = score, context[first[0]: last[1]]
    return best_text, best, null


def postprocess(examples: list[Example], metas: list[EvalFeature], start_logits: Sequence[Any],
                end_logits: Sequence[Any], task: QATask) -> dict[str, str]:
    """Question id -> predicted answer text ("" = no answer, SQuAD 2.0 only).

    ``start_logits[i]``/``end_logits[i]`` are window ``i``'s logits (at least as long as its tokens)."""
    per_example: dict[int, list[tuple[EvalFeature, Any, Any]]] = {}
    for meta, s, e in zip(metas, start_logits, end_logits, strict=True):
        per_example.setdefault(meta.example, []).append((meta, s, e))
    preds: dict[str, str] = {}
    for idx, ex in enumerate(examples):
        text, score, null = best_span(ex["context"], per_example.get(idx, []), task)
        if task.version_2 and (score == -math.inf or null - score > task.null_threshold):
            text = ""
        preds[ex["id"]] = text
    return preds
