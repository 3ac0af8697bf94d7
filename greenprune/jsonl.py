"""Append-only JSON-lines files that survive interruption.

An append is one ``write`` of the whole line on an ``O_APPEND`` descriptor, so a process killed at
any moment leaves either the full line or nothing of it; a line torn some other way (a full disk,
a file cut by hand, an older version) is isolated: the next append first ends it with a newline,
so a new record is never glued onto it. Reading goes line by line over *bytes*, so a line that is
not JSON, or not UTF-8 (a file ending inside a character), is skipped with a warning naming the
file and line, and every complete line around it is kept.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SkippedLineWarning(UserWarning):
    """A line of a JSON-lines file that could not be read and was skipped."""


def append_line(path: Path, text: str) -> None:
    """Append ``text`` (one JSON document, no newline) as its own line of ``path``. Callers that
    share the file with other processes hold a lock around it (see :mod:`greenprune.locks`)."""
    data = text.encode("utf-8") + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # the last line was torn: end it, never extend it
        view = memoryview(data)
        while view:  # one write in practice; loop only for a short write (a full disk raises)
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def skip(path: Path, number: int, why: str) -> None:
    warnings.warn(f"{path} line {number}: {why}; skipped (an interrupted write, or not a record)",
                  SkippedLineWarning, stacklevel=3)


def read_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line of ``path`` that is a JSON object; every other
    non-blank line is skipped with a :class:`SkippedLineWarning`."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                skip(path, number, "not UTF-8 text")
                continue
            except ValueError as exc:  # JSONDecodeError, or a number too long to convert
                skip(path, number, f"not a JSON line ({str(exc).splitlines()[0][:80]})")
                continue
            if not isinstance(obj, dict):
                skip(path, number, f"a JSON {type(obj).__name__}, not an object")
                continue
            yield number, obj
