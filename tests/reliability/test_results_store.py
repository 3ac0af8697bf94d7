"""results.jsonl under interruption and from newer versions: appends start on a new line, the
reader skips what it cannot read (saying which line of which file) and keeps every complete record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenprune.errors import UserError
from greenprune.results import SCHEMA_VERSION, ResultStore, RunResult, load_results


def record(key: str) -> RunResult:
    return RunResult(run_key=key, started_at="2026-01-01T00:00:00+00:00", config={"task": "demo"})


def line(key: str) -> str:
    return record(key).model_dump_json() + "\n"


def test_an_append_after_a_torn_line_starts_on_a_new_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    full = line("a")
    store.path.write_text(full + line("b")[:40], encoding="utf-8")  # killed mid-write: no newline
    store.append(record("c"))
    with pytest.warns(UserWarning, match="line 2"):
        keys = [r.run_key for r in store.load()]
    assert keys == ["a", "c"]  # the torn record skipped, nothing glued onto it
    assert store.path.read_text(encoding="utf-8").endswith(line("c"))


def test_a_file_ending_inside_a_utf8_character_is_read(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    torn = '{"run_key": "x", "error": "caf\u00e9'.encode()[:-1]  # half of the two-byte é
    store.path.write_bytes(line("a").encode() + torn)
    with pytest.warns(UserWarning) as seen:
        assert [r.run_key for r in store.load()] == ["a"]
    message = str(seen[0].message)
    assert str(store.path) in message and "line 2" in message
    store.append(record("b"))
    with pytest.warns(UserWarning):
        assert [r.run_key for r in store.load()] == ["a", "b"]


def test_a_bad_line_in_the_middle_loses_no_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(line("a").encode() + b"\xff\xfe garbage\n" + b"[1, 2]\n" + line("b").encode())
    with pytest.warns(UserWarning) as seen:
        keys = [r.run_key for r in load_results([path])]
    assert keys == ["a", "b"]
    assert [w for w in seen if "line 2" in str(w.message)] and [w for w in seen if "line 3" in str(w.message)]


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    newer = {**json.loads(line("a")), "schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "results.jsonl").write_text(json.dumps(newer) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=f"schema_version {SCHEMA_VERSION + 1}.*{SCHEMA_VERSION}"):
        load_results([tmp_path])


def test_the_store_refuses_to_append_below_a_newer_schema(tmp_path: Path) -> None:
    newer = {**json.loads(line("a")), "schema_version": SCHEMA_VERSION + 1}
    store = ResultStore(tmp_path)
    store.path.write_text(json.dumps(newer) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="newer"):
        store.finished_keys()
