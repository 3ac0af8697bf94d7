"""SQuAD: the metric on hand-made cases, the readers and the by-article split, the task options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from greenprune_builtins.metrics import load_metric
from greenprune_builtins.tasks import squad_data
from greenprune_builtins.tasks.squad import SquadOptions, build

from greenprune.errors import UserError

SHARED_SQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad" / "dev-v1.1.json"


def squad(preds: dict[str, str], golds: dict[str, list[str]], **kwargs: Any) -> dict[str, float]:
    return load_metric("squad").compute(
        predictions=[{"id": k, "prediction_text": v} for k, v in preds.items()],
        references=[{"id": k, "answers": {"text": v, "answer_start": [0] * len(v)}} for k, v in golds.items()],
        **kwargs)


# ---------------------------------------------------------------------------------------------
# Metric
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pred", "gold", "em", "f1"), [
    ("Denver Broncos", "Denver Broncos", 100.0, 100.0),
    ("the Denver Broncos!", "denver   broncos", 100.0, 100.0),  # article, punctuation, case, spaces
    ("An apple, a pear.", "apple pear", 100.0, 100.0),
    ("theatre tickets", "theatre", 0.0, 100 * 2 / 3),  # "the" inside a word is not an article
    ("Denver", "Denver Broncos", 0.0, 100 * 2 * (1 * 0.5) / 1.5),  # precision 1, recall 1/2
    ("the Broncos of Denver", "Denver Broncos", 0.0, 100 * 2 * (2 / 3) * 1 / (2 / 3 + 1)),
    ("New York", "Denver", 0.0, 0.0),
    ("", "Denver", 0.0, 0.0),
    ("a a b", "a b b", 0.0, 100 * 2 / 3),  # "a" is an article: "b" against "b b"
    ("x x y", "x y y", 0.0, 100 * 2 / 3),  # tokens counted with multiplicity: 2 shared of 3
])
def test_exact_match_and_f1_single_answer(pred: str, gold: str, em: float, f1: float) -> None:
    out = squad({"q": pred}, {"q": [gold]})
    assert out["exact_match"] == pytest.approx(em)
    assert out["f1"] == pytest.approx(f1)
    assert out["total"] == 1 and "HasAns_f1" not in out


def test_best_gold_answer_counts_and_means_over_questions() -> None:
    out = squad({"1": "Santa Clara, California", "2": "Levi's Stadium", "3": "1966"},
                {"1": ["Santa Clara", "Santa Clara, California", "California"],
                 "2": ["Levi's Stadium in the San Francisco Bay Area", "Stadium"],
                 "3": ["1970", "the 1966 season"]})
    # q1 exact on its second answer; q2 best F1 vs "Stadium" (p 1/2, r 1) = 2/3, EM 0; q3 F1 vs
    # "1966 season" (p 1, r 1/2) = 2/3, EM 0
    assert out["exact_match"] == pytest.approx(100 / 3)
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 2 / 3) / 3)


def test_missing_prediction_scores_zero() -> None:
    out = load_metric("squad").compute(
        predictions=[{"id": "1", "prediction_text": "Denver"}, {"id": "3", "prediction_text": "Carolina"}],
        references=[{"id": "1", "answers": {"text": ["Denver"], "answer_start": [0]}},
                    {"id": "2", "answers": {"text": ["Carolina"], "answer_start": [0]}}])
    assert out["exact_match"] == 50.0 and out["f1"] == 50.0


def test_version_2_no_answer_cases() -> None:
    preds = {"a": "", "b": "Denver", "c": "Denver Broncos", "d": "", "e": "the"}
    golds: dict[str, list[str]] = {"a": [], "b": [], "c": ["Denver Broncos"], "d": ["Denver"], "e": []}
    out = squad(preds, golds)  # an empty gold list switches on v2 scoring
    # a: "" for unanswerable = right; b: text for unanswerable = wrong; c right; d abstained = wrong;
    # e: "the" normalises to nothing, so it counts as no answer = right
    assert out["NoAns_total"] == 3 and out["HasAns_total"] == 2 and out["total"] == 5
    assert out["NoAns_exact_match"] == pytest.approx(200 / 3) and out["NoAns_f1"] == pytest.approx(200 / 3)
    assert out["HasAns_exact_match"] == 50.0 and out["HasAns_f1"] == 50.0
    assert out["exact_match"] == pytest.approx(60.0) and out["f1"] == pytest.approx(60.0)


def test_version_2_flag_on_answerable_only_questions() -> None:
    out = squad({"1": "Denver"}, {"1": ["Denver"]}, version_2=True)
    assert out["HasAns_f1"] == 100.0 and "NoAns_f1" not in out
    # a gold answer that normalises to nothing is dropped in v2, so "" is then the answer
    assert squad({"1": ""}, {"1": ["The"]}, version_2=True)["f1"] == 100.0


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def squad_json(articles: int, questions: int = 3, impossible: bool = False) -> dict[str, Any]:
    data = []
    for a in range(articles):
        context = f"Article {a} was written in {1900 + a} by the author Smith{a}. It is long."
        qas = [{"id": f"{a}-{q}", "question": f"When was article {a} written ({q})?",
                "answers": [{"text": str(1900 + a), "answer_start": context.index(str(1900 + a))}]}
               for q in range(questions)]
        if impossible:
            qas.append({"id": f"{a}-x", "question": "Who is the king?", "answers": [], "is_impossible": True,
                        "plausible_answers": [{"text": "Smith", "answer_start": 40}]})
        data.append({"title": f"Title_{a}", "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "2.0" if impossible else "1.1", "data": data}


def write(folder: Path, name: str, blob: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(blob))
    return folder / name


def test_article_split_never_splits_an_article_and_is_deterministic(tmp_path: Path) -> None:
    write(tmp_path / "squad", "dev-v1.1.json", squad_json(10, questions=4))
    data = squad_data.load_local(tmp_path, False, None, 0.7, 3)
    again = squad_data.load_local(tmp_path, False, None, 0.7, 3)
    train_titles = {e["title"] for e in data.train}
    dev_titles = {e["title"] for e in data.dev["dev"]}
    assert len(train_titles) == 7 and len(dev_titles) == 3 and not train_titles & dev_titles
    assert len(data.train) == 28 and len(data.dev["dev"]) == 12  # every question of an article goes with it
    assert data.train == again.train and data.dev == again.dev
    other = squad_data.load_local(tmp_path, False, None, 0.7, 4)
    assert {e["title"] for e in other.train} != train_titles  # the split seed matters
    note = data.notes[0]
    assert "split by article" in note and "7 articles / 28 questions" in note and "3 articles / 12" in note
    ex = data.train[0]
    assert set(ex) >= {"id", "question", "context", "answers", "text_a", "text_b"}
    assert ex["context"][ex["answers"]["answer_start"][0]:].startswith(ex["answers"]["text"][0])


def test_split_sizes_keep_one_article_each_side() -> None:
    arts = [squad_data.Article(str(i), [{"id": str(i)}]) for i in range(3)]
    assert [len(s) for s in squad_data.split_articles(arts, 0.99, 0)] == [2, 1]
    assert [len(s) for s in squad_data.split_articles(arts, 0.01, 0)] == [1, 2]
    with pytest.raises(UserError, match="at least 2 articles"):
        squad_data.split_articles(arts[:1], 0.5, 0)


def test_official_files_and_split_from(tmp_path: Path) -> None:
    write(tmp_path, "train-v1.1.json", squad_json(6))
    write(tmp_path, "dev-v1.1.json", squad_json(2))
    official = squad_data.load_local(tmp_path, False, None, 0.8, 0)
    assert official.sizes() == {"train": 18, "dev": 6} and "official split" in official.notes[0]
    from_dev = squad_data.load_local(tmp_path, False, "dev", 0.5, 0)
    assert from_dev.sizes() == {"train": 3, "dev": 3} and "train-v1.1.json not used" in from_dev.notes[0]
    write(tmp_path / "v2", "dev-v2.0.json", squad_json(2, impossible=True))
    with pytest.raises(UserError, match="train-v2.0.json"):
        squad_data.load_local(tmp_path / "v2", True, "train", 0.5, 0)


def test_version_2_keeps_unanswerable_questions(tmp_path: Path) -> None:
    write(tmp_path / "squad", "dev-v2.0.json", squad_json(4, impossible=True))
    data = squad_data.load_local(tmp_path, True, None, 0.5, 0)
    rows = data.train + data.dev["dev"]
    assert sum(not e["answers"]["text"] for e in rows) == 4  # plausible answers are not gold


@pytest.mark.parametrize(("blob", "match"), [
    ("not json", "is not a SQuAD v1.1 JSON file"),
    ({"data": [{"title": "x", "paragraphs": [{"qas": [{"id": "1"}]}]}]}, "missing field 'context'"),
    ({"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q",
                                                                       "answers": []}]}]}]}, "no answer"),
])
def test_malformed_files_are_one_line_user_errors(tmp_path: Path, blob: Any, match: str) -> None:
    (tmp_path / "dev-v1.1.json").write_text(blob if isinstance(blob, str) else json.dumps(blob))
    with pytest.raises(UserError, match=match) as info:
        squad_data.load_local(tmp_path, False, None, 0.8, 0)
    assert "\n" not in str(info.value)


def test_missing_files_and_offline_hub_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="dev-v1.1.json"):
        squad_data.load_local(tmp_path, False, None, 0.8, 0)
    with pytest.raises(UserError, match="does not exist"):
        squad_data.load_local(tmp_path / "nope", False, None, 0.8, 0)
    with pytest.raises(UserError, match="rajpurkar/squad_v2.*--data-dir"):
        squad_data.load_hub(True, None, 0.8, 0)  # HF_HUB_OFFLINE is set by conftest


def test_task_options() -> None:
    task = build("squad_v2", SquadOptions(max_length=128, doc_stride=32))
    assert task.kind == "qa" and task.version_2 and task.evaluator == "qa" and task.primary_metric == "f1"
    assert "NoAns_f1" in task.metrics and task.as_dict()["qa"]["doc_stride"] == 32
    assert task.auto_model_class().__name__ == "AutoModelForQuestionAnswering"
    with pytest.raises(ValueError, match="doc_stride"):
        SquadOptions(max_length=64, doc_stride=48, max_query_length=16)


@pytest.mark.realdata
def test_real_dev_file_split() -> None:
    if not SHARED_SQUAD.is_file():
        pytest.skip("real SQuAD dev file (../shared/data/squad) is not here")
    data = squad_data.load_local(SHARED_SQUAD.parent.parent, False, None, 0.8, 0)
    assert len(data.train) + len(data.dev["dev"]) == 10570
    assert "38 articles" in data.notes[0] and "10 articles" in data.notes[0]
