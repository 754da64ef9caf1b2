"""How a statement waives a safety rule: `-- noqa: MG503 <reason>` comments and their reach.

A statement silences a rule with a comment naming its code, anywhere in the statement, on the
comment lines directly above it, or at the end of its last line. A bare `-- noqa` (which silences
sqlfluff) does not silence these rules: a safety exception has to name what it waives.
"""

from __future__ import annotations

import re

from ci.core.sqltext import split_pieces

_NOQA = re.compile(r"\bnoqa\s*:\s*(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)", re.IGNORECASE)
_COMMENT = re.compile(
    r"""(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
      | '(?:[^']|'')*(?:'|\Z) | "(?:[^"]|"")*(?:"|\Z)
      | `(?:[^`]|``)*(?:`|\Z) | \[[^\]]*(?:\]|\Z)""",
    re.VERBOSE | re.DOTALL,
)


def noqa_codes(text: str) -> set[str]:
    """Codes named in `noqa: CODE[,CODE]` comments of `text` (comments only, not strings)."""
    codes: set[str] = set()
    for match in _COMMENT.finditer(text):
        if match["comment"]:
            for noqa in _NOQA.finditer(match["comment"]):
                codes.update(c.strip().upper() for c in noqa["codes"].split(","))
    return codes


def silencing_scopes(text: str) -> dict[int, set[str]]:
    """For each statement offset, the codes its `-- noqa:` comments silence.

    A statement's scope is its own text, the comment lines directly above it, and the rest of its
    last line (`DROP TABLE x; -- noqa: MG503`), but not the rest of the previous statement's line.
    """
    if "noqa" not in text.lower():  # most files: no second split of a (possibly huge) file
        return {}
    pieces = split_pieces(text)
    scopes: dict[int, set[str]] = {}
    for piece in pieces:
        own = piece.raw
        mid_line = piece.offset > 0 and text[piece.offset - 1] != "\n"
        if mid_line and "\n" in own:
            own = own[own.index("\n") :]
        elif mid_line:  # another statement before it on its line: the comments above that line
            own = _comments_above(text, text.rfind("\n", 0, piece.offset) + 1) + own
        end = piece.offset + len(piece.raw)
        line_end = text.find("\n", end)
        tail = text[end : len(text) if line_end < 0 else line_end]  # the rest of its last line
        scopes[piece.offset] = noqa_codes(own + "\n" + tail)
    return scopes


def _comments_above(text: str, line_start: int) -> str:
    """The `--` comment lines directly above the line that starts at `line_start`."""
    lines: list[str] = []
    end = line_start - 1
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if not line.strip().startswith("--"):
            break
        lines.insert(0, line)
        end = start - 1
    return "\n".join(lines) + "\n" if lines else ""
