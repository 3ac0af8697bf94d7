"""Property-based tests over every reader of user files: whatever the bytes, the reader returns
a clean result or raises a one-line UserError, never another exception. Bounded (max_examples)
so CI stays fast; no deadline (the machine is shared)."""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenprune.errors import UserError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

#: JSON values, nested a little
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def clean_or_user_error(fn: Any, *args: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    except UserError as exc:
        assert "\n" not in str(exc), str(exc)
        return None


# --- GLUE TSV ------------------------------------------------------------------------------------

tsv_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
tsv_lines = st.lists(st.lists(tsv_cells, max_size=5).map("\t".join), max_size=6).map("\n".join)


@SETTINGS
@given(text=tsv_lines, raw=st.binary(max_size=60), task=st.sampled_from(["rte", "stsb", "cola", "qqp"]),
       use_raw=st.booleans())
def test_glue_tsv(tmp_path: Path, text: str, raw: bytes, task: str, use_raw: bool) -> None:
    from greenprune_builtins.tasks.glue_readers import LAYOUTS, read_split

    layout = LAYOUTS[task]
    header = "\t".join(["index", layout.text_a, layout.text_b or "x", layout.label]) + "\n"
    path = tmp_path / "train.tsv"
    path.write_bytes(raw if use_raw else (header + text).encode("utf-8", "surrogatepass"))
    out = clean_or_user_error(read_split, path, layout)
    if out is not None:
        examples, skipped = out
        assert examples and skipped >= 0


# --- SQuAD JSON ----------------------------------------------------------------------------------

answers = st.fixed_dictionaries({"text": st.text(max_size=6) | json_values,
                                 "answer_start": st.integers(-5, 60) | json_values})
qas = st.fixed_dictionaries({"id": st.text(max_size=4) | json_values, "question": st.text(max_size=6),
                             "answers": st.lists(answers, max_size=2) | json_values})
paragraphs = st.fixed_dictionaries({"context": st.text(max_size=40) | json_values, "qas": st.lists(qas, max_size=3)})
squad = st.fixed_dictionaries({"data": st.lists(st.fixed_dictionaries(
    {"title": st.text(max_size=6) | json_values, "paragraphs": st.lists(paragraphs, max_size=2) | json_values}),
    max_size=3) | json_values}) | json_values


@SETTINGS
@given(blob=squad, raw=st.binary(max_size=40), use_raw=st.booleans(), version_2=st.booleans())
def test_squad_json(tmp_path: Path, blob: Any, raw: bytes, use_raw: bool, version_2: bool) -> None:
    from greenprune_builtins.tasks.squad_data import read_file

    path = tmp_path / "dev.json"
    path.write_bytes(raw if use_raw else json.dumps(blob).encode())
    articles = clean_or_user_error(read_file, path, version_2)
    for article in articles or []:
        for ex in article.examples:
            for text, start in zip(ex["answers"]["text"], ex["answers"]["answer_start"], strict=True):
                assert ex["context"][start:start + len(text)] == text  # every kept span is really there


# --- results.jsonl -------------------------------------------------------------------------------


def result_line(overrides: dict[str, Any]) -> bytes:
    base = {"run_key": "k", "started_at": "t", "config": {}}
    return json.dumps({**base, **overrides}).encode()


@SETTINGS
@given(lines=st.lists(st.binary(max_size=30) | json_values.map(lambda v: json.dumps(v).encode())
                      | st.dictionaries(st.sampled_from(["schema_version", "status", "run_key", "phases", "student"]),
                                        json_values, max_size=3).map(result_line), max_size=6),
       cut=st.integers(0, 400))
def test_results_jsonl(tmp_path: Path, lines: list[bytes], cut: int) -> None:
    from greenprune.results import load_results

    path = tmp_path / "results.jsonl"
    blob = b"\n".join(lines)
    path.write_bytes(blob[:cut] if cut < len(blob) else blob)
    results = clean_or_user_error(load_results, [path])
    assert results is None or all(r.run_key for r in results)


# --- TOML config ---------------------------------------------------------------------------------

toml_keys = st.sampled_from(["task", "teacher", "seed", "compressors", "train", "inference", "energy", "sparsity",
                             "options", "epochs", "meters", "max_train_samples", "data_dir", "save_student"])
toml_scalars = (st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.booleans()
                | st.text(alphabet=string.ascii_letters + " ./", max_size=8))


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(v), repr(v))
    return json.dumps(v)


@SETTINGS
@given(table=st.dictionaries(toml_keys, toml_scalars | st.lists(toml_scalars, max_size=3)
                             | st.dictionaries(st.sampled_from(["epochs", "max_length", "seq_length", "keep", "x"]),
                                               toml_scalars, max_size=3), max_size=5),
       raw=st.binary(max_size=40), use_raw=st.booleans())
def test_toml_config(tmp_path: Path, table: dict[str, Any], raw: bytes, use_raw: bool) -> None:
    from greenprune.config import build_config

    path = tmp_path / "c.toml"
    path.write_bytes(raw if use_raw else "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()).encode())
    clean_or_user_error(build_config, path)


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"a = 1\n\x00", b"task = 'demo'\xc3"])
def test_toml_config_that_is_not_utf8(tmp_path: Path, raw: bytes) -> None:
    from greenprune.config import build_config

    path = tmp_path / "c.toml"
    path.write_bytes(raw)
    with pytest.raises(UserError):
        build_config(path)
