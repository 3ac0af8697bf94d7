"""The GLUE task plugin: the task table, the TSV readers on every layout (the Hub loader: test_glue_hub.py; the real
files: test_glue_real.py), and the hooks through a plugin manager."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from greenprune_builtins.tasks import glue, glue_readers

from greenprune.errors import UserError
from greenprune.tasks import Task, TaskData

GLUE_NAMES = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]

_MNLI_TRAIN_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                      "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
_MNLI_DEV_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\t"
                    "label4\tlabel5\tgold_label")
_STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"


def _mnli_row(i: int, a: str, b: str, label: str, dev: bool) -> str:
    votes = [label] * (5 if dev else 1)
    return "\t".join([str(i), "31193", f"{i}n", "government", "( x )", "( y )", "(ROOT x)", "(ROOT y)",
                      a, b, *votes, label])


def _stsb_row(i: int, a: str, b: str, score: str) -> str:
    return "\t".join([str(i), "main-captions", "MSRvid", "2012test", f"{i:04d}", "none", "none", a, b, score])


#: folder -> file -> lines, one tiny file per split in the official layout of each task
TINY_GLUE: dict[str, dict[str, list[str]]] = {
    "CoLA": {  # no header; source, label, original label, sentence
        "train.tsv": ["gj04\t1\t\tThe sailors rode the breeze clear of the rocks.",
                      "gj04\t0\t*\tThe sailors rode breeze the clear."],
        "dev.tsv": ["gj04\t1\t\tThe doll wriggled itself loose."],
    },
    "SST-2": {  # trailing spaces are in the official file and are kept
        "train.tsv": ["sentence\tlabel", "hide new secretions from the parental units \t0",
                      "a charming and often affecting journey \t1"],
        "dev.tsv": ["sentence\tlabel", "unflinchingly bleak and desperate \t0"],
    },
    "MRPC": {  # the header starts with a UTF-8 BOM; quotes are literal text
        "train.tsv": ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                      '1\t702876\t702977\tHe called " the witness " .\tHe said " the witness " .',
                      "0\t2108705\t2108831\tYucaipa owned it .\tYucaipa bought it ."],
        "dev.tsv": ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                    "1\t1355540\t1355592\tThe pie business .\tThe pie trade ."],
    },
    "STS-B": {
        "train.tsv": [_STSB_HEADER,
                      _stsb_row(0, "A plane is taking off.", "An air plane is taking off.", "5.000"),
                      _stsb_row(1, "A man plays a flute.", "A cat sleeps.", "0.250")],
        "dev.tsv": [_STSB_HEADER, _stsb_row(0, "A man dances.", "A man is dancing.", "4.750")],
    },
    "QQP": {  # the official train file has rows with missing fields: skipped and counted
        "train.tsv": ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                      "0\t1\t2\tHow do I learn Python?\tWhat is the best way to learn Python?\t1",
                      "1\t3\t4\tWhy is the sky blue?",
                      "2\t5\t6\tWhat is love?\t\t0",
                      "3\t7\t8\tWho won?\tWhat time is it?\t0"],
        "dev.tsv": ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                    "4\t9\t10\tIs tea healthy?\tIs green tea good for you?\t1"],
    },
    "MNLI": {  # dev has five annotator labels before gold_label, train one
        "train.tsv": [_MNLI_TRAIN_HEADER,
                      _mnli_row(0, "A man sleeps.", "A person rests.", "entailment", False),
                      _mnli_row(1, "A man sleeps.", "A man runs.", "contradiction", False),
                      _mnli_row(2, "A man sleeps.", "A man dreams.", "neutral", False)],
        "dev_matched.tsv": [_MNLI_DEV_HEADER, _mnli_row(0, "It rains.", "It is wet.", "entailment", True)],
        "dev_mismatched.tsv": [_MNLI_DEV_HEADER,
                               _mnli_row(0, "It rains.", "It is dry.", "contradiction", True),
                               _mnli_row(1, "It rains.", "It is cold.", "neutral", True)],
    },
    "QNLI": {
        "train.tsv": ["index\tquestion\tsentence\tlabel",
                      "0\tWhen did it start?\tIt started in 1990.\tentailment",
                      "1\tWho built it?\tIt is tall.\tnot_entailment"],
        "dev.tsv": ["index\tquestion\tsentence\tlabel", "0\tWhere is it?\tIt is in Paris.\tentailment"],
    },
    "RTE": {
        "train.tsv": ["index\tsentence1\tsentence2\tlabel",
                      "0\tNo weapons were found in Iraq.\tWeapons were found in Iraq.\tnot_entailment"],
        "dev.tsv": ["index\tsentence1\tsentence2\tlabel",
                    "0\tBacteria are mutating fast.\tBacteria win.\tentailment",
                    "1\tDana Reeve died.\tChristopher Reeve had an accident.\tnot_entailment"],
    },
    "WNLI": {
        "train.tsv": ["index\tsentence1\tsentence2\tlabel",
                      "0\tI stuck a pin through a carrot. It had a hole.\tThe carrot had a hole.\t1"],
        "dev.tsv": ["index\tsentence1\tsentence2\tlabel",
                    "0\tThe drain is clogged. It must be cleaned.\tThe hair must be cleaned.\t0"],
    },
}

#: task -> split -> expected (text_a, text_b, label) of TINY_GLUE
EXPECTED: dict[str, dict[str, list[tuple[str, str | None, int | float]]]] = {
    "cola": {"train": [("The sailors rode the breeze clear of the rocks.", None, 1),
                       ("The sailors rode breeze the clear.", None, 0)],
             "dev": [("The doll wriggled itself loose.", None, 1)]},
    "sst2": {"train": [("hide new secretions from the parental units ", None, 0),
                       ("a charming and often affecting journey ", None, 1)],
             "dev": [("unflinchingly bleak and desperate ", None, 0)]},
    "mrpc": {"train": [('He called " the witness " .', 'He said " the witness " .', 1),
                       ("Yucaipa owned it .", "Yucaipa bought it .", 0)],
             "dev": [("The pie business .", "The pie trade .", 1)]},
    "stsb": {"train": [("A plane is taking off.", "An air plane is taking off.", 5.0),
                       ("A man plays a flute.", "A cat sleeps.", 0.25)],
             "dev": [("A man dances.", "A man is dancing.", 4.75)]},
    "qqp": {"train": [("How do I learn Python?", "What is the best way to learn Python?", 1),
                      ("Who won?", "What time is it?", 0)],
            "dev": [("Is tea healthy?", "Is green tea good for you?", 1)]},
    "mnli": {"train": [("A man sleeps.", "A person rests.", 0), ("A man sleeps.", "A man runs.", 2),
                       ("A man sleeps.", "A man dreams.", 1)],
             "dev_matched": [("It rains.", "It is wet.", 0)],
             "dev_mismatched": [("It rains.", "It is dry.", 2), ("It rains.", "It is cold.", 1)]},
    "qnli": {"train": [("When did it start?", "It started in 1990.", 0), ("Who built it?", "It is tall.", 1)],
             "dev": [("Where is it?", "It is in Paris.", 0)]},
    "rte": {"train": [("No weapons were found in Iraq.", "Weapons were found in Iraq.", 1)],
            "dev": [("Bacteria are mutating fast.", "Bacteria win.", 0),
                    ("Dana Reeve died.", "Christopher Reeve had an accident.", 1)]},
    "wnli": {"train": [("I stuck a pin through a carrot. It had a hole.", "The carrot had a hole.", 1)],
             "dev": [("The drain is clogged. It must be cleaned.", "The hair must be cleaned.", 0)]},
}


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def glue_dir(tmp_path: Path) -> Path:
    """A tiny GLUE folder with every task, at ``tmp_path/glue``."""
    root = tmp_path / "glue"
    for folder, files in TINY_GLUE.items():
        for name, lines in files.items():
            _write(root / folder / name, lines)
    return root


def _ctx(data_dir: Any = None) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(data_dir=data_dir))


def _triples(rows: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(r["text_a"], r["text_b"], r["label"]) for r in rows]


@pytest.fixture
def no_env_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(glue_readers.DATA_DIR_ENV, raising=False)


# ---------------------------------------------------------------------------------------------
# The task table
# ---------------------------------------------------------------------------------------------


def test_task_table() -> None:
    assert list(glue.TASKS) == GLUE_NAMES
    stsb = glue.TASKS["stsb"]
    assert (stsb.kind, stsb.num_labels, stsb.metrics, stsb.primary_metric) == (
        "regression", 1, ("pearson", "spearman"), "pearson")
    assert glue.TASKS["cola"].primary_metric == "matthews_correlation"
    for name in ("mrpc", "qqp"):
        assert glue.TASKS[name].metrics == ("accuracy", "f1")
        assert glue.TASKS[name].primary_metric == "accuracy"
    for name in ("sst2", "mnli", "qnli", "rte", "wnli"):
        assert glue.TASKS[name].metrics == ("accuracy",)
    # Label ids as in the Hub dataset nyu-mll/glue.
    assert glue.TASKS["mnli"].label_names == ("entailment", "neutral", "contradiction")
    assert glue.TASKS["mnli"].num_labels == 3
    assert glue.TASKS["mnli"].dev_splits == ("dev_matched", "dev_mismatched")
    assert glue.TASKS["qnli"].label_names == glue.TASKS["rte"].label_names == ("entailment", "not_entailment")
    for name, task in glue.TASKS.items():
        assert task.evaluator == "glue" and not task.synthetic
        if name != "mnli":
            assert task.dev_splits == ("dev",)
        if name != "stsb":
            assert task.kind == "classification" and task.num_labels == len(task.label_names)


def test_plugin_modules_import_no_heavy_libraries() -> None:
    code = ("import sys, greenprune_builtins.tasks.glue, greenprune_builtins.metrics; "
            "heavy = {'torch', 'transformers', 'datasets', 'evaluate', 'numpy', 'scipy', 'sklearn'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Local TSV files: every layout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", GLUE_NAMES)
def test_reads_every_layout(glue_dir: Path, task: str) -> None:
    data = glue_readers.load_local(task, glue_dir)
    folder = glue_readers.LAYOUTS[task].folder
    assert data.source == f"local:{(glue_dir / folder).resolve()}"
    assert list(data.dev) == list(glue.TASKS[task].dev_splits)
    assert _triples(data.train) == EXPECTED[task]["train"]
    for split, rows in data.dev.items():
        assert _triples(rows) == EXPECTED[task][split]
    for row in data.train:
        assert set(row) == {"text_a", "text_b", "label"}
        assert isinstance(row["label"], float if task == "stsb" else int)


def test_qqp_incomplete_rows_are_skipped_with_a_note(glue_dir: Path) -> None:
    data = glue_readers.load_local("qqp", glue_dir)
    assert len(data.train) == 2
    assert len(data.notes) == 1 and "skipped 2 train and 0 dev rows" in data.notes[0]
    assert glue_readers.load_local("mrpc", glue_dir).notes == []


def test_mrpc_bom_does_not_hide_the_first_column(glue_dir: Path) -> None:
    assert (glue_dir / "MRPC" / "train.tsv").read_bytes().startswith(b"\xef\xbb\xbfQuality")
    assert glue_readers.load_local("mrpc", glue_dir).train[0]["label"] == 1


def test_data_dir_may_be_a_parent_holding_glue(glue_dir: Path) -> None:
    data = glue_readers.load_local("rte", glue_dir.parent)
    assert data.source == f"local:{(glue_dir / 'RTE').resolve()}"


def test_task_folder_matches_case_insensitively(glue_dir: Path) -> None:
    (glue_dir / "SST-2").rename(glue_dir / "sst-2")
    assert len(glue_readers.load_local("sst2", glue_dir).train) == 2


BAD_ROWS = [
    # (folder, file, lines, expected line number, message fragment)
    ("MRPC", "train.tsv", [TINY_GLUE["MRPC"]["train.tsv"][0], "1\t1\t2\ta\tb", "x\t3\t4\tc\td"], 3,
     "label 'x' is not one of 0, 1"),
    ("RTE", "dev.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tmaybe"], 2,
     "label 'maybe' is not one of entailment, not_entailment"),
    ("MNLI", "dev_mismatched.tsv", [_MNLI_DEV_HEADER, _mnli_row(0, "a", "b", "-", True)], 2,
     "label '-' is not one of entailment, neutral, contradiction"),
    ("STS-B", "train.tsv", [_STSB_HEADER, _stsb_row(0, "a", "b", "1.0"), _stsb_row(1, "a", "b", "high")], 3,
     "score 'high' is not a number"),
    ("STS-B", "dev.tsv", [_STSB_HEADER, _stsb_row(0, "a", "b", "7.5")], 2, "score '7.5' is outside 0 to 5"),
    ("SST-2", "train.tsv", ["sentence\tlabel", "good \t1", "no label here"], 3,
     "expected at least 2 tab-separated columns, found 1"),
    ("CoLA", "train.tsv", ["gj04\t1\t\tFine.", "gj04\t1"], 2,
     "expected at least 4 tab-separated columns, found 2"),
    ("CoLA", "dev.tsv", ["gj04\t2\t\tFine."], 1, "label '2' is not one of 0, 1"),
    ("QQP", "dev.tsv", ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "0\t1\t2\ta\tb\tyes"], 2,
     "label 'yes' is not one of 0, 1"),
    ("WNLI", "train.tsv", ["index\tsentence\tlabel", "0\ta\t1"], 1, "the header has no column 'sentence1'"),
]


@pytest.mark.parametrize(("folder", "name", "lines", "line", "fragment"), BAD_ROWS,
                         ids=[f"{b[0]}-{b[1]}-{b[4][:20]}" for b in BAD_ROWS])
def test_malformed_rows_name_file_and_line(
    glue_dir: Path, folder: str, name: str, lines: list[str], line: int, fragment: str
) -> None:
    path = _write(glue_dir / folder / name, lines)
    task = next(t for t, lay in glue_readers.LAYOUTS.items() if lay.folder == folder)
    with pytest.raises(UserError) as err:
        glue_readers.load_local(task, glue_dir)
    message = str(err.value)
    assert f"{path.resolve()} line {line}" in message
    assert fragment in message
    assert "\n" not in message


def test_empty_file_is_a_user_error(glue_dir: Path) -> None:
    _write(glue_dir / "RTE" / "dev.tsv", [])
    with pytest.raises(UserError, match=r"RTE/dev\.tsv is empty"):
        glue_readers.load_local("rte", glue_dir)


def test_file_without_examples_is_a_user_error(glue_dir: Path) -> None:
    _write(glue_dir / "CoLA" / "dev.tsv", [""])
    with pytest.raises(UserError, match=r"CoLA/dev\.tsv has no examples"):
        glue_readers.load_local("cola", glue_dir)


def test_missing_task_folder_names_it_and_the_layout(tmp_path: Path) -> None:
    (tmp_path / "CoLA").mkdir()
    with pytest.raises(UserError) as err:
        glue_readers.load_local("mnli", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "MNLI") in message
    assert "MNLI/{train,dev_matched,dev_mismatched}.tsv" in message


@pytest.mark.parametrize(("task", "missing"), [("qnli", "train.tsv"), ("rte", "dev.tsv"),
                                               ("mnli", "dev_mismatched.tsv")])
def test_missing_split_file_names_path_and_layout(glue_dir: Path, task: str, missing: str) -> None:
    folder = glue_readers.LAYOUTS[task].folder
    (glue_dir / folder / missing).unlink()
    with pytest.raises(UserError) as err:
        glue_readers.load_local(task, glue_dir)
    message = str(err.value)
    assert f"missing GLUE file {(glue_dir / folder / missing).resolve()}" in message
    assert f"DIR/{folder}/train.tsv" in message


def test_data_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist or is not a folder"):
        glue_readers.load_local("rte", tmp_path / "nope")


# ---------------------------------------------------------------------------------------------
# Through a plugin manager
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pm() -> Any:
    from greenprune.plugins import make_plugin_manager

    return make_plugin_manager(load_entry_points=False, extra_plugins=[glue])


def test_tasks_are_registered(pm: Any) -> None:
    from greenprune.components import collect

    catalogue = collect(pm)
    assert catalogue.names("task") == sorted(GLUE_NAMES)
    component = catalogue.get("task", "stsb")
    assert component.kind == "task" and "STS-B" in component.description
    task = component.build()
    assert isinstance(task, Task) and task is glue.TASKS["stsb"]
    with pytest.raises(UserError, match="Did you mean 'mrpc'"):
        catalogue.get("task", "mrcp")


def test_load_task_data_hook_reads_the_data_dir(pm: Any, glue_dir: Path, no_env_data_dir: None) -> None:
    from greenprune.components import collect

    task = collect(pm).get("task", "mnli").build()
    data = pm.hook.greenprune_load_task_data(task=task, ctx=_ctx(glue_dir))
    assert isinstance(data, TaskData)
    assert data.sizes() == {"train": 3, "dev_matched": 1, "dev_mismatched": 2}
    # A str path works as well as a Path.
    assert pm.hook.greenprune_load_task_data(task=task, ctx=_ctx(str(glue_dir))).sizes() == data.sizes()


def test_load_task_data_hook_falls_back_to_the_env_var(
    pm: Any, glue_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(glue_readers.DATA_DIR_ENV, str(glue_dir.parent))
    data = pm.hook.greenprune_load_task_data(task=glue.TASKS["cola"], ctx=_ctx(None))
    assert data.source == f"local:{(glue_dir / 'CoLA').resolve()}"


def test_load_task_data_hook_ignores_other_tasks(pm: Any) -> None:
    demo = Task(name="demo", title="Demo", kind="classification", num_labels=2, metrics=("accuracy",),
                primary_metric="accuracy", synthetic=True)
    assert pm.hook.greenprune_load_task_data(task=demo, ctx=_ctx(None)) is None


def test_load_task_data_hook_without_data_dir_goes_to_the_hub(
    pm: Any, monkeypatch: pytest.MonkeyPatch, no_env_data_dir: None
) -> None:
    monkeypatch.setattr(glue_readers, "load_hub", lambda name: TaskData([], {"dev": []}, f"hub-test:{name}"))
    data = pm.hook.greenprune_load_task_data(task=glue.TASKS["wnli"], ctx=_ctx(None))
    assert data.source == "hub-test:wnli"
