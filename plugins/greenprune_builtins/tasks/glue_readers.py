"""GLUE data: readers for the classic ``glue_data`` TSV layout, and the Hugging Face Hub loader.

Local files come first because runs are usually offline; the Hub is only tried when no data
folder is configured, and it is probed first so that an offline machine fails in a second
instead of after ~25 s of HTTP retries.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from greenprune.api import Example, TaskData, UserError

#: Environment variable naming the local GLUE folder when ``--data-dir`` is not given.
DATA_DIR_ENV = "GREENPRUNE_DATA_DIR"
HUB_DATASET = "nyu-mll/glue"
#: Sub-folders of ``--data-dir`` also searched, so a parent of the GLUE folder works too.
GLUE_SUBDIRS = ("glue", "glue_data")

_BINARY = ("0", "1")
_TWO_WAY_NLI = ("entailment", "not_entailment")


@dataclass(frozen=True)
class GlueLayout:
    """Where one task's files live and which columns hold its text and label."""

    folder: str
    #: column names of text_a, text_b (None: single sentence) and the label
    text_a: str
    text_b: str | None
    label: str
    #: label tokens as written in the files, in label-id order; None for a regression score
    labels: tuple[str, ...] | None
    #: names of the columns of a file without a header line (CoLA); None when there is a header
    headerless: tuple[str, ...] | None = None
    dev_files: tuple[str, ...] = ("dev",)
    #: skip (and count) rows with missing fields instead of failing: a known QQP quirk
    skip_incomplete: bool = False
    #: field names of the Hub dataset: text_a, text_b
    hub_fields: tuple[str, str | None] = ("sentence1", "sentence2")


LAYOUTS: dict[str, GlueLayout] = {
    "cola": GlueLayout("CoLA", "sentence", None, "label", _BINARY,
                       headerless=("source", "label", "original_label", "sentence"),
                       hub_fields=("sentence", None)),
    "sst2": GlueLayout("SST-2", "sentence", None, "label", _BINARY, hub_fields=("sentence", None)),
    "mrpc": GlueLayout("MRPC", "#1 String", "#2 String", "Quality", _BINARY),
    "stsb": GlueLayout("STS-B", "sentence1", "sentence2", "score", None),
    "qqp": GlueLayout("QQP", "question1", "question2", "is_duplicate", _BINARY, skip_incomplete=True,
                      hub_fields=("question1", "question2")),
    "mnli": GlueLayout("MNLI", "sentence1", "sentence2", "gold_label",
                       ("entailment", "neutral", "contradiction"),
                       dev_files=("dev_matched", "dev_mismatched"), hub_fields=("premise", "hypothesis")),
    "qnli": GlueLayout("QNLI", "question", "sentence", "label", _TWO_WAY_NLI,
                       hub_fields=("question", "sentence")),
    "rte": GlueLayout("RTE", "sentence1", "sentence2", "label", _TWO_WAY_NLI),
    "wnli": GlueLayout("WNLI", "sentence1", "sentence2", "label", _BINARY),
}

#: STS-B similarity scores are defined on this closed range.
STSB_RANGE = (0.0, 5.0)


def expected_layout() -> str:
    """The valid folder layout, for error messages."""
    files = ", ".join(f"{lay.folder}/{{train,{','.join(lay.dev_files)}}}.tsv" for lay in LAYOUTS.values())
    return f"DIR/<Task>/<split>.tsv, i.e. {files} (only the tasks you run need to exist)"


# ---------------------------------------------------------------------------------------------
# Local TSV files
# ---------------------------------------------------------------------------------------------


def configured_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """``--data-dir`` if given, else ``$GREENPRUNE_DATA_DIR``, else None (meaning: use the Hub)."""
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else None


def _child(parent: Path, name: str) -> Path | None:
    """``parent/name`` as a folder, matching the name case-insensitively as a fallback."""
    exact = parent / name
    if exact.is_dir():
        return exact
    if parent.is_dir():
        for entry in parent.iterdir():
            if entry.name.lower() == name.lower() and entry.is_dir():
                return entry
    return None


def find_task_folder(data_dir: Path, task_name: str) -> Path:
    """The task's folder in ``data_dir`` (the GLUE folder itself, or a parent holding ``glue/``)."""
    layout = LAYOUTS[task_name]
    if not data_dir.is_dir():
        raise UserError(f"data dir {str(data_dir)!r} does not exist or is not a folder; "
                        f"--data-dir / {DATA_DIR_ENV} must name a folder in the GLUE TSV layout: "
                        f"{expected_layout()}")
    searched = [data_dir, *(data_dir / sub for sub in GLUE_SUBDIRS if (data_dir / sub).is_dir())]
    for root in searched:
        found = _child(root, layout.folder)
        if found is not None:
            return found.resolve()
    where = " or ".join(str(root / layout.folder) for root in searched)
    raise UserError(f"GLUE task {task_name!r} needs the folder {where}, which does not exist; "
                    f"the data dir must be in the GLUE TSV layout: {expected_layout()}")


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line. Quotes are literal text in GLUE, hence
    QUOTE_NONE; utf-8-sig drops the BOM that starts the official MRPC header."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            for row in reader:
                if row and any(field.strip() for field in row):
                    # With QUOTE_NONE a row is exactly one line, so line_num is that row's line.
                    yield reader.line_num, row
        except UnicodeDecodeError:
            raise UserError(f"{path} line {_first_undecodable_line(path)}: not UTF-8 text; GLUE files are "
                            "UTF-8 TSV") from None
        except csv.Error as exc:  # a NUL byte, a field past csv's size limit
            raise UserError(f"{path} line {reader.line_num + 1}: not a TSV row ({exc})") from None


def _first_undecodable_line(path: Path) -> int:
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _parse_label(layout: GlueLayout, raw: str, where: str) -> int | float:
    token = raw.strip()
    if layout.labels is None:
        try:
            score = float(token)
        except ValueError:
            raise UserError(f"{where}: score {raw!r} is not a number") from None
        low, high = STSB_RANGE
        if not (math.isfinite(score) and low <= score <= high):
            raise UserError(f"{where}: score {raw!r} is outside {low:g} to {high:g}")
        return score
    if token not in layout.labels:
        raise UserError(f"{where}: label {raw!r} is not one of {', '.join(layout.labels)}")
    return layout.labels.index(token)


def _missing_file(path: Path, layout: GlueLayout) -> UserError:
    files = [f"{split}.tsv" for split in ("train", *layout.dev_files)]
    paths = ", ".join(f"DIR/{layout.folder}/{name}" for name in files)
    if path.exists():
        return UserError(f"GLUE file {path} is a folder, not a file; the {layout.folder} folder must hold the TSV "
                         f"files {' and '.join(files)} ({paths})")
    return UserError(f"missing GLUE file {path}; the {layout.folder} folder must hold {' and '.join(files)} "
                     f"(GLUE TSV layout: {paths})")


def read_split(path: Path, layout: GlueLayout) -> tuple[list[Example], int]:
    """Read one split file.

    :return: the examples and how many incomplete rows were skipped (QQP only; other tasks raise).
    :raises UserError: a missing file, a header without the needed columns, or a malformed row,
        naming the file and line.
    """
    if not path.is_file():
        raise _missing_file(path, layout)
    rows = _rows(path)
    header_line = 1
    if layout.headerless is None:
        first = next(rows, None)
        if first is None:
            raise UserError(f"{path} is empty; expected a header line naming the columns")
        header_line, header = first[0], [name.strip() for name in first[1]]
    else:
        header = list(layout.headerless)
    wanted = [layout.text_a, layout.label] + ([layout.text_b] if layout.text_b else [])
    missing = [name for name in wanted if name not in header]
    if missing:
        raise UserError(f"{path} line {header_line}: the header has no column {missing[0]!r} "
                        f"(found: {', '.join(header)}); is this the right file for {layout.folder}?")
    col = {name: header.index(name) for name in wanted}
    needed = max(col.values()) + 1
    examples: list[Example] = []
    skipped = 0
    for line, row in rows:
        where = f"{path} line {line}"
        incomplete = len(row) < needed
        if layout.skip_incomplete and (incomplete or not all(row[i].strip() for i in col.values())):
            skipped += 1
            continue
        if incomplete:
            raise UserError(f"{where}: expected at least {needed} tab-separated columns, found {len(row)}")
        examples.append({
            "text_a": row[col[layout.text_a]],
            "text_b": row[col[layout.text_b]] if layout.text_b else None,
            "label": _parse_label(layout, row[col[layout.label]], where),
        })
    if not examples:
        raise UserError(f"{path} has no examples; expected one tab-separated row per example")
    return examples, skipped


def check_local(task_name: str, data_dir: Path) -> Path:
    """The task's folder, with every split file present (and a file): checked before any is read."""
    layout = LAYOUTS[task_name]
    folder = find_task_folder(data_dir, task_name)
    for split in ("train", *layout.dev_files):
        if not (folder / f"{split}.tsv").is_file():
            raise _missing_file(folder / f"{split}.tsv", layout)
    return folder


def load_local(task_name: str, data_dir: Path) -> TaskData:
    """Train and dev examples of ``task_name`` from a folder in the GLUE TSV layout."""
    layout = LAYOUTS[task_name]
    # Check every file before reading any, so a missing dev file is reported without the wait.
    folder = check_local(task_name, data_dir)
    train, skipped = read_split(folder / "train.tsv", layout)
    dev: dict[str, list[Example]] = {}
    skipped_dev = 0
    for split in layout.dev_files:
        dev[split], n = read_split(folder / f"{split}.tsv", layout)
        skipped_dev += n
    notes = []
    if skipped or skipped_dev:
        notes.append(f"{layout.folder}: skipped {skipped} train and {skipped_dev} dev rows with missing "
                     "fields (a known quirk of the official QQP files)")
    return TaskData(train=train, dev=dev, source=f"local:{folder}", notes=notes)


# ---------------------------------------------------------------------------------------------
# Hugging Face Hub
# ---------------------------------------------------------------------------------------------

_TRUE = {"1", "ON", "YES", "TRUE"}


def _offline_reason() -> str | None:
    """Why the Hub cannot be reached (offline mode set, or the endpoint does not answer), or None."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().upper() in _TRUE:
            return f"{var} is set"
    return _probe_hub()


def _probe_hub(timeout: float = 3.0) -> str | None:
    """Open one TCP connection to the Hub endpoint; the reason it failed, or None."""
    import socket
    from urllib.parse import urlparse

    # Behind a proxy a direct connection may fail while the library would get through.
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlparse(endpoint)
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{port}: {exc.strerror or exc}"


@contextlib.contextmanager
def _offline_mode(enabled: bool) -> Iterator[None]:
    """Switch ``datasets`` and ``huggingface_hub`` to offline (cache-only) mode for a while.

    Both read ``HF_HUB_OFFLINE`` once at import, so setting the variable later has no effect; the
    module flags are flipped instead. A dataset already in the local cache still loads.
    """
    if not enabled:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    flags = [(datasets.config, "HF_HUB_OFFLINE"), (datasets.config, "HF_DATASETS_OFFLINE"),
             (huggingface_hub.constants, "HF_HUB_OFFLINE")]
    saved = [(mod, name, getattr(mod, name)) for mod, name in flags if hasattr(mod, name)]
    for mod, name, _ in saved:
        setattr(mod, name, True)
    try:
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def _one_line(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_hub(task_name: str) -> TaskData:
    """Train and dev examples of ``task_name`` from the Hub dataset ``nyu-mll/glue``."""
    layout = LAYOUTS[task_name]

    def fail(reason: str) -> UserError:
        return UserError(
            f"cannot load GLUE task {task_name!r} from the Hugging Face Hub (offline or unreachable: "
            f"{_one_line(reason)}); pass --data-dir DIR (a folder in the GLUE TSV layout, "
            f"e.g. ../shared/data/glue) or set {DATA_DIR_ENV}"
        )

    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise fail(f"the datasets library is not installed ({exc})") from None
    offline = _offline_reason()
    try:
        with _offline_mode(offline is not None):
            loaded = datasets.load_dataset(HUB_DATASET, task_name)
    except Exception as exc:  # any failure becomes the same one-line hint
        raise fail(offline or f"{type(exc).__name__}: {exc}") from None
    hub_splits = {"train": "train"}
    for split in layout.dev_files:
        # The Hub names dev splits validation, validation_matched and validation_mismatched.
        hub_splits[split] = split.replace("dev", "validation", 1)
    converted = {ours: _from_hub(loaded[theirs], layout) for ours, theirs in hub_splits.items()}
    train = converted.pop("train")
    return TaskData(train=train, dev=converted, source=f"hub:{HUB_DATASET}/{task_name}")


def _from_hub(split: object, layout: GlueLayout) -> list[Example]:
    """Hub rows (label ids already match :data:`LAYOUTS`) as examples."""
    field_a, field_b = layout.hub_fields
    columns = split.to_dict()  # type: ignore[attr-defined]  # a datasets.Dataset
    texts_b = columns[field_b] if field_b else [None] * len(columns[field_a])
    regression = layout.labels is None
    return [
        {"text_a": a, "text_b": b, "label": float(label) if regression else int(label)}
        for a, b, label in zip(columns[field_a], texts_b, columns["label"], strict=True)
    ]
