"""User-facing errors: one line that names the bad value and the fix, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input; the CLI prints it on one line and exits with status 2."""


def unknown(kind: str, value: str, valid: Iterable[str], hint: str = "") -> UserError:
    """Build the error for an unknown name, with a did-you-mean suggestion."""
    valid = sorted(valid)
    close = difflib.get_close_matches(value, valid, n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    more = f" {hint}" if hint else ""
    return UserError(f"unknown {kind} {value!r}.{guess} Valid: {', '.join(valid) or '(none)'}.{more}")
