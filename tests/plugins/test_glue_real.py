"""The GLUE task plugin on the real files in ../shared/data/glue (skipped when they are absent):
row counts and labels as the data README states them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from greenprune_builtins.tasks import glue_readers

from greenprune.errors import UserError

REAL_GLUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "glue"


#: README table: task -> split -> rows, and the label counts it states (label id -> count)
REAL_COUNTS = {
    "cola": {"train": 8551, "dev": 1043},
    "sst2": {"train": 67349, "dev": 872},
    "mrpc": {"train": 3668, "dev": 408},
    "stsb": {"train": 5749, "dev": 1500},
    "rte": {"train": 2490, "dev": 277},
    "wnli": {"train": 635, "dev": 71},
}
REAL_LABELS = {
    "cola": {"train": {1: 6023, 0: 2528}, "dev": {1: 721, 0: 322}},
    "sst2": {"train": {1: 37569, 0: 29780}, "dev": {1: 444, 0: 428}},
    "mrpc": {"train": {1: 2474, 0: 1194}, "dev": {1: 279, 0: 129}},
}


@pytest.fixture(scope="module")
def real_glue() -> Path:
    if not REAL_GLUE.is_dir():
        pytest.skip(f"real GLUE data not found at {REAL_GLUE}")
    return REAL_GLUE


@pytest.mark.realdata
@pytest.mark.parametrize("task", sorted(REAL_COUNTS))
def test_real_files_match_the_readme(real_glue: Path, task: str) -> None:
    data = glue_readers.load_local(task, real_glue)
    assert data.sizes() == REAL_COUNTS[task]
    assert data.notes == []
    for split, rows in {"train": data.train, **data.dev}.items():
        labels = [row["label"] for row in rows]
        if task == "stsb":
            assert all(isinstance(x, float) and 0.0 <= x <= 5.0 for x in labels)
        elif task in REAL_LABELS:
            assert dict(Counter(labels)) == REAL_LABELS[task][split]
        else:
            assert set(labels) == {0, 1}
        assert all(row["text_a"] for row in rows)
        assert all((row["text_b"] is None) == (task in ("cola", "sst2")) for row in rows)


@pytest.mark.realdata
def test_real_qnli_has_only_dev(real_glue: Path) -> None:
    rows, skipped = glue_readers.read_split(real_glue / "QNLI" / "dev.tsv", glue_readers.LAYOUTS["qnli"])
    assert skipped == 0
    assert dict(Counter(row["label"] for row in rows)) == {0: 2702, 1: 2761}  # entailment, not_entailment
    with pytest.raises(UserError, match=r"missing GLUE file .*QNLI/train\.tsv"):
        glue_readers.load_local("qnli", real_glue)


@pytest.mark.realdata
def test_real_data_through_the_parent_folder(real_glue: Path) -> None:
    assert glue_readers.load_local("wnli", real_glue.parent).sizes() == REAL_COUNTS["wnli"]


