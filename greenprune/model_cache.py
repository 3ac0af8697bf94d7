"""Cache entries on disk that many processes share safely (fine-tuned teachers, see finetuning.py).

Three rules make an entry safe to share between concurrent benches, sweep shards and the ranks of
one multi-process run:

- **one writer per key**: a file lock (``<entry>.lock``, the ``filelock`` package) is held from the
  check to the rename, so a second process waits for the first's fine-tune and then reuses it
  instead of training the same model again;
- **a private temporary folder per writer** (``<entry>.partial-<random>``), renamed onto the entry
  when complete, so a reader never sees half an entry and two writers never share a folder;
- **a manifest** (``greenprune-manifest.json``: size and SHA-256 of every file) written last and
  checked before every load, so a truncated or altered file is found, named, and rebuilt rather
  than failing every later run.

The lock is :func:`greenprune.locks.hold` (``filelock``'s ``flock``): the kernel releases it when
its holder dies, so a killed fine-tune never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

MANIFEST = "greenprune-manifest.json"
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> dict[str, dict[str, object]]:
    """Record the size and SHA-256 of every file in ``folder`` (the manifest itself excepted)."""
    files = {str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in _files(folder)}
    (folder / MANIFEST).write_text(json.dumps({"version": 1, "files": files}, indent=1), encoding="utf-8")
    return files


def check_entry(folder: Path, required: str) -> str | None:
    """``None`` when ``folder`` is a complete, intact entry; otherwise what is wrong with it.

    :param required: a file every entry has (entries written before manifests existed carry only
        that one; they are accepted and checked by loading them).
    """
    if not (folder / required).is_file():
        return f"{required} is missing"
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None  # an entry from before manifests: loading it is the check
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"{MANIFEST} is unreadable ({exc})"
    for name, want in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != want["bytes"]:
            return f"{name} has {size} bytes, {want['bytes']} were written"
        if _sha256(path) != want["sha256"]:
            return f"{name} does not match its checksum"
    return None


@contextlib.contextmanager
def writer_lock(entry: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Hold ``<entry>.lock`` for the block (greenprune's locks); say once who holds it when we wait."""
    from greenprune.locks import hold

    with hold(Path(str(entry) + ".lock"), f"cache entry {entry}", on_wait=lambda msg: say(f"[dim]{msg}[/dim]")):
        yield


def private_folder(entry: Path) -> Path:
    """A fresh folder next to ``entry`` that only this writer uses (same filesystem: the rename is atomic)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=entry.parent, prefix=entry.name + ".partial-"))


def discard(entry: Path) -> None:
    """Remove ``entry``: first renamed aside (atomic), so no reader ever sees it half deleted."""
    if not entry.exists():
        return
    aside = Path(tempfile.mkdtemp(dir=entry.parent, prefix=entry.name + ".discarded-"))
    os.replace(entry, aside / "entry")
    shutil.rmtree(aside, ignore_errors=True)


def publish(folder: Path, entry: Path) -> None:
    """Write ``folder``'s manifest and rename it onto ``entry`` (replacing an old one)."""
    write_manifest(folder)
    discard(entry)
    os.replace(folder, entry)
