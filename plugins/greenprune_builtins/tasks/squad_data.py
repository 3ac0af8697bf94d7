"""SQuAD data: the official JSON files from a local folder, or the Hugging Face Hub; and the split.

A benchmark needs a training set and an evaluation set that share no article: questions about the
same paragraph are near-duplicates, so a split by question would leak answers into training. When
only one file is at hand (offline here: just ``dev-v1.1.json``), it is split **by article**, with
its own seed so that runs with different training seeds are scored on the same articles.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenprune.api import Example, TaskData, UserError
from greenprune_builtins.tasks.glue_readers import DATA_DIR_ENV, _child, _offline_mode, _offline_reason, _one_line

#: official file names per version: (train, dev)
FILES = {False: ("train-v1.1.json", "dev-v1.1.json"), True: ("train-v2.0.json", "dev-v2.0.json")}
HUB_DATASETS = {False: "rajpurkar/squad", True: "rajpurkar/squad_v2"}
#: sub-folders of ``--data-dir`` also searched, so the data root (holding ``squad/``) works too
SUBDIRS = ("squad", "squad_v2", "squad2")


@dataclass
class Article:
    """One Wikipedia article and all of its questions (the unit that is never split)."""

    title: str
    examples: list[Example]


def expected_layout(version_2: bool) -> str:
    train, dev = FILES[version_2]
    return f"DIR/squad/{dev} and/or DIR/squad/{train} (or the files directly in DIR)"


def find_files(data_dir: Path, version_2: bool) -> dict[str, Path]:
    """``{"train": path, "dev": path}`` for the official files present (either may be missing)."""
    if not data_dir.is_dir():
        raise UserError(f"data dir {str(data_dir)!r} does not exist or is not a folder; --data-dir / "
                        f"{DATA_DIR_ENV} must name a folder holding {expected_layout(version_2)}")
    roots = [data_dir, *(c for sub in SUBDIRS if (c := _child(data_dir, sub)) is not None)]
    found: dict[str, Path] = {}
    for split, name in zip(("train", "dev"), FILES[version_2], strict=True):
        hit = next((root / name for root in roots if (root / name).is_file()), None)
        if hit is not None:
            found[split] = hit.resolve()
    return found


#: how many characters a recorded ``answer_start`` may be off from where its text is in the context
#: (an off-by-one start, a space before the span in a hand-made file); such a span is moved there
SPAN_TOLERANCE = 2


def checked_span(context: str, text: str, start: int, where: str) -> tuple[str, int]:
    """The answer as it is in ``context``: its text without surrounding whitespace, found at
    ``start`` or at most :data:`SPAN_TOLERANCE` characters from it (the nearest such place).

    :raises UserError: when the text is not there, naming ``where`` (file, article, question)."""
    stripped = text.strip()
    begin = start + len(text) - len(text.lstrip())
    if stripped:
        for shift in sorted(range(-SPAN_TOLERANCE, SPAN_TOLERANCE + 1), key=abs):
            at = begin + shift
            if at >= 0 and context[at:at + len(stripped)] == stripped:
                return stripped, at
    there = context[max(start, 0):max(start, 0) + len(text)]
    shown = repr(there[:40]) if there else "nothing (past the end of the context)"
    raise UserError(f"{where}: answer {text[:40]!r} is not in the context at answer_start {start}: the context there "
                    f"reads {shown}; fix answer_start (a span up to {SPAN_TOLERANCE} characters off is accepted and "
                    "moved)")


def _example(qa: dict[str, Any], title: str, context: str, version_2: bool, source: str = "") -> Example:
    answers = [] if qa.get("is_impossible") else qa.get("answers", [])
    if not version_2 and not answers:
        raise ValueError(f"question {qa.get('id')!r} has no answer, which SQuAD v1.1 does not allow")
    where = f"{source}: article {title!r}, question {str(qa['id'])!r}"
    spans = [checked_span(context, str(a["text"]), int(a["answer_start"]), where) for a in answers]
    return {
        "id": str(qa["id"]), "title": title, "question": qa["question"], "context": context,
        "answers": {"text": [t for t, _ in spans], "answer_start": [i for _, i in spans]},
        # The text pair the model reads, for code that only knows text pairs (e.g. the inference batch).
        "text_a": qa["question"], "text_b": context,
    }


def read_file(path: Path, version_2: bool) -> list[Article]:
    """Articles of an official SQuAD JSON file; a malformed file is a one-line user error."""
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
        articles: list[Article] = []
        for art in blob["data"]:
            title = str(art.get("title", f"article {len(articles)}"))
            rows = [_example(qa, title, para["context"], version_2, str(path))
                    for para in art["paragraphs"] for qa in para["qas"]]
            articles.append(Article(title, rows))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ArithmeticError, RecursionError) as exc:
        # AttributeError: a list or string where an object belongs; ArithmeticError: answer_start inf
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else _one_line(str(exc) or type(exc).__name__)
        raise UserError(f"{path} is not a SQuAD {'2.0' if version_2 else 'v1.1'} JSON file ({detail}); "
                        "expected {\"data\": [{\"title\", \"paragraphs\": [{\"context\", \"qas\": [...]}]}]}") from None
    if not any(a.examples for a in articles):
        raise UserError(f"{path} has no questions")
    return articles


def split_articles(articles: list[Article], train_fraction: float, seed: int) -> tuple[list[Article], list[Article]]:
    """A seeded split by article: ``round(fraction * n)`` articles (at least one on each side)
    train, the rest evaluate; each side keeps the file's order."""
    n = len(articles)
    if n < 2:
        raise UserError(f"cannot split {n} article(s) into train and dev; a SQuAD split needs at least 2 articles")
    k = min(n - 1, max(1, round(train_fraction * n)))
    order = list(range(n))
    random.Random(f"squad-articles:{seed}").shuffle(order)
    train = set(order[:k])
    return [a for i, a in enumerate(articles) if i in train], [a for i, a in enumerate(articles) if i not in train]


def _count(articles: list[Article]) -> str:
    return f"{len(articles)} articles / {sum(len(a.examples) for a in articles)} questions"


def _rows(articles: list[Article]) -> list[Example]:
    return [ex for a in articles for ex in a.examples]


def assemble(available: dict[str, tuple[str, list[Article]]], split_from: str | None, train_fraction: float,
             seed: int, source: str, unused: Sequence[str] = ()) -> TaskData:
    """Train and dev from the official files (``available``: split -> (file name, articles)), or a
    by-article split of the one file named by ``split_from`` (``unused``: files present but not read)."""
    if split_from is None:
        (train_name, train), (dev_name, dev) = available["train"], available["dev"]
        notes = [f"official split: train = {train_name} ({_count(train)}), dev = {dev_name} ({_count(dev)})"]
        return TaskData(train=_rows(train), dev={"dev": _rows(dev)}, source=source, notes=notes)
    name, articles = available[split_from]
    train, dev = split_articles(articles, train_fraction, seed)
    notes = [f"{name} split by article (train_articles={train_fraction}, split_seed={seed}): "
             f"train {_count(train)}, dev {_count(dev)}; no article is on both sides. "
             "Not the official SQuAD split" + (f" ({', '.join(unused)} not used)" if unused else "")
             + ", so scores are not comparable with published dev-set results"]
    return TaskData(train=_rows(train), dev={"dev": _rows(dev)}, source=source, notes=notes)


def locate(data_dir: Path, version_2: bool, split_from: str | None) -> tuple[dict[str, Path], str | None]:
    """The official files in ``data_dir`` and the file to split (None: use both), or a user error."""
    files = find_files(data_dir, version_2)
    if not files:
        raise UserError(f"no SQuAD {'2.0' if version_2 else 'v1.1'} file in {str(data_dir)!r}; "
                        f"expected {expected_layout(version_2)}")
    if split_from is None and len(files) == 1:
        split_from = next(iter(files))  # one file at hand: split it by article
    if split_from is not None and split_from not in files:
        name = FILES[version_2][0 if split_from == "train" else 1]
        raise UserError(f"split_from={split_from!r} needs {name}, which is not in {str(data_dir)!r}; "
                        f"provide it ({expected_layout(version_2)}) or set split_from to the file you have")
    return files, split_from


def load_local(data_dir: Path, version_2: bool, split_from: str | None, train_fraction: float, seed: int) -> TaskData:
    files, split_from = locate(data_dir, version_2, split_from)
    wanted = [split_from] if split_from is not None else ["train", "dev"]
    available = {split: (files[split].name, read_file(files[split], version_2)) for split in wanted}
    unused = [path.name for split, path in files.items() if split not in wanted]
    where = ", ".join(str(files[split]) for split in wanted)
    return assemble(available, split_from, train_fraction, seed, f"local:{where}", unused)


def _hub_articles(split: Any) -> list[Article]:
    """Hub rows (one per question, articles consecutive) grouped back into articles."""
    articles: list[Article] = []
    for row in split:
        answers = row["answers"]
        where = f"hub row: article {row['title']!r}, question {row['id']!r}"
        spans = [checked_span(row["context"], t, int(i), where)
                 for t, i in zip(answers["text"], answers["answer_start"], strict=True)]
        ex = {"id": row["id"], "title": row["title"], "question": row["question"], "context": row["context"],
              "answers": {"text": [t for t, _ in spans], "answer_start": [i for _, i in spans]},
              "text_a": row["question"], "text_b": row["context"]}
        if not articles or articles[-1].title != row["title"]:
            articles.append(Article(row["title"], []))
        articles[-1].examples.append(ex)
    return articles


def load_hub(version_2: bool, split_from: str | None, train_fraction: float, seed: int) -> TaskData:
    dataset = HUB_DATASETS[version_2]

    def fail(reason: str) -> UserError:
        return UserError(f"cannot load {dataset} from the Hugging Face Hub (offline or unreachable: "
                         f"{_one_line(reason)}); pass --data-dir DIR holding {expected_layout(version_2)} "
                         f"(e.g. ../shared/data) or set {DATA_DIR_ENV}")

    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise fail(f"the datasets library is not installed ({exc})") from None
    offline = _offline_reason()
    try:
        with _offline_mode(offline is not None):
            loaded = datasets.load_dataset(dataset)
    except Exception as exc:  # any failure becomes the same one-line hint
        raise fail(offline or f"{type(exc).__name__}: {exc}") from None
    available = {"train": ("train", _hub_articles(loaded["train"])),
                 "dev": ("validation", _hub_articles(loaded["validation"]))}
    unused = [] if split_from is None else [f"{dataset} {'validation' if split_from == 'train' else 'train'}"]
    return assemble({split_from: available[split_from]} if split_from else available, split_from, train_fraction,
                    seed, f"hub:{dataset}", unused)
