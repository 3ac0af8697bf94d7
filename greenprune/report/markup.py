"""Number formatting and a tiny document builder shared by report sections.

A section writes its content once against :class:`Doc` and gets Markdown or HTML out, so the two
reports can never disagree on a number. Everything a section passes in is plain text: ``Doc``
escapes it for the target format, which is why sections never build markup by hand.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

from greenprune.report.types import Fmt

#: Shown wherever a value is missing (a ``None`` field); never a made-up number.
MISSING = "–"


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def sig3(x: float) -> str:
    """Three significant digits without the exponent in the everyday range (0.0123, 4.56, 789)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    # Round first so 9.996 becomes 10.0 (three digits), not 10.00.
    x = float(f"{x:.3g}")
    mag = math.floor(math.log10(abs(x)))
    if -4 <= mag < 6:
        return f"{x:.{max(0, 2 - mag)}f}"
    return f"{x:.2e}"


def metric(v: float | None) -> str:
    return MISSING if v is None else f"{v:.4f}"


def delta(v: float | None) -> str:
    return MISSING if v is None else f"{v:+.4f}"


def count(n: int | None) -> str:
    """Parameter counts: millions above 100k (as BERT papers quote them), exact below."""
    if n is None:
        return MISSING
    return f"{n / 1e6:.2f}M" if abs(n) >= 100_000 else f"{n:,}"


def megabytes(n_bytes: int | None) -> str:
    """Bytes as MB of 10^6 bytes (what file managers and the Hub show)."""
    return MISSING if n_bytes is None else f"{n_bytes / 1e6:.1f}"


def percent(v: float | None) -> str:
    return MISSING if v is None else f"{v * 100:.1f}%"


def seconds(v: float | None) -> str:
    if v is None:
        return MISSING
    if v < 120:
        return f"{sig3(v)} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.2f} h"


def joules(v: float | None, method: str | None) -> str:
    """Energy with its method next to it; estimates carry a ``≈`` so they never pass as measured."""
    if v is None:
        return "no sensor"
    prefix = "≈" if method and "estimate" in method.split("/") else ""
    return f"{prefix}{sig3(v)} J"


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------

_NUMERIC = re.compile(r"^[≈+\-−]?\d")
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that would
# otherwise start emphasis, links, HTML or table cells in text we do not control (errors, notes).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _is_numeric(cell: str) -> bool:
    return bool(_NUMERIC.match(cell))


def _numeric_column(cells: list[str]) -> bool:
    """Right-align a column when most of its filled cells are numbers (a "ref" or "no sensor"
    among them should not flip the alignment)."""
    filled = [c for c in cells if c not in ("", MISSING)]
    return bool(filled) and sum(map(_is_numeric, filled)) * 2 >= len(filled)


class Doc:
    """Accumulates blocks (headings, paragraphs, lists, tables, code) for one output format."""

    def __init__(self, fmt: Fmt) -> None:
        if fmt not in ("markdown", "html"):
            raise ValueError(f"unknown report format {fmt!r}; expected 'markdown' or 'html'")
        self.fmt: Fmt = fmt
        self._blocks: list[str] = []

    @property
    def html(self) -> bool:
        return self.fmt == "html"

    def _esc(self, text: str) -> str:
        return html.escape(text) if self.html else md_escape(text)

    def heading(self, text: str, level: int = 3) -> Doc:
        if self.html:
            self._blocks.append(f"<h{level}>{html.escape(text)}</h{level}>")
        else:
            self._blocks.append(f"{'#' * level} {md_escape(text)}")
        return self

    def para(self, text: str, *, note: bool = False) -> Doc:
        """A paragraph; ``note`` renders it as a de-emphasised remark."""
        if self.html:
            cls = ' class="note"' if note else ""
            self._blocks.append(f"<p{cls}>{html.escape(text)}</p>")
        else:
            self._blocks.append(f"_{md_escape(text)}_" if note else md_escape(text))
        return self

    def bullets(self, items: Iterable[str]) -> Doc:
        items = list(items)
        if not items:
            return self
        if self.html:
            lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
            self._blocks.append(f"<ul>{lis}</ul>")
        else:
            self._blocks.append("\n".join(f"- {md_escape(i)}" for i in items))
        return self

    def code(self, text: str) -> Doc:
        """Verbatim text such as an error message (kept as is, never interpreted as markup)."""
        if self.html:
            self._blocks.append(f"<pre>{html.escape(text)}</pre>")
        else:
            fence = "```"
            while fence in text:  # a fence longer than any run of backticks inside the text
                fence += "`"
            self._blocks.append(f"{fence}text\n{text}\n{fence}")
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Doc:
        """A table of plain-text cells; numeric columns are right-aligned."""
        if not rows:
            return self
        width = len(headers)
        padded = [list(r) + [""] * (width - len(r)) for r in rows]
        numeric = [_numeric_column([r[i] for r in padded]) for i in range(width)]
        self._blocks.append(self._html_table(headers, padded, numeric) if self.html
                            else self._md_table(headers, padded, numeric))
        return self

    @staticmethod
    def _md_table(headers: Sequence[str], rows: list[list[str]], numeric: list[bool]) -> str:
        def cell(text: str) -> str:
            return md_escape(" ".join(text.split())) or " "

        lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
                 "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        return "\n".join(lines)

    @staticmethod
    def _html_table(headers: Sequence[str], rows: list[list[str]], numeric: list[bool]) -> str:
        def cls(i: int) -> str:
            return ' class="num"' if numeric[i] else ""

        head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers))
        body = "".join(
            "<tr>" + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
            for r in rows
        )
        # The wrapper scrolls sideways: comparison tables are wider than a page.
        return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")

    def render(self) -> str:
        return "\n\n".join(self._blocks) if not self.html else "\n".join(self._blocks)

    def __str__(self) -> str:
        return self.render()
