"""SQuAD answers are checked against their context: a span that is not there is an error naming
the file, the article and the question; a span off by up to 2 characters (whitespace, an
off-by-one start in a hand-made file) is accepted and moved to where the text is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from greenprune_builtins.tasks import squad_data

from greenprune.errors import UserError
from tests.plugins.test_squad import squad_json, write


def test_answers_past_the_end_of_their_context_are_refused(tmp_path: Path) -> None:
    blob = squad_json(3)
    for art in blob["data"]:
        for qa in art["paragraphs"][0]["qas"]:
            qa["answers"][0]["answer_start"] = len(art["paragraphs"][0]["context"]) + 10
    path = write(tmp_path, "dev-v1.1.json", blob)
    with pytest.raises(UserError) as info:
        squad_data.load_local(tmp_path, False, None, 0.5, 0)
    message = str(info.value)
    assert str(path) in message and "Title_0" in message and "'0-0'" in message and "answer_start" in message
    assert "\n" not in message


def test_a_span_off_by_a_little_is_accepted_and_corrected(tmp_path: Path) -> None:
    blob = squad_json(2)
    qa = blob["data"][0]["paragraphs"][0]["qas"][0]
    right = qa["answers"][0]["answer_start"]
    qa["answers"][0]["answer_start"] = right - 1  # points at the space before the year
    qa["answers"][0]["text"] = " " + qa["answers"][0]["text"] + " "  # and carries stray whitespace
    write(tmp_path, "dev-v1.1.json", blob)
    data = squad_data.load_local(tmp_path, False, None, 0.5, 0)
    (row,) = [e for e in data.train + data.dev["dev"] if e["id"] == "0-0"]
    assert row["answers"] == {"text": ["1900"], "answer_start": [right]}


def test_a_span_three_characters_off_is_refused(tmp_path: Path) -> None:
    blob = squad_json(2)
    blob["data"][1]["paragraphs"][0]["qas"][2]["answers"][0]["answer_start"] += 3
    write(tmp_path, "dev-v1.1.json", json.loads(json.dumps(blob)))
    with pytest.raises(UserError, match="Title_1.*'1-2'"):
        squad_data.load_local(tmp_path, False, None, 0.5, 0)
