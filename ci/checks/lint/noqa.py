"""How a statement waives a safety rule: `-- noqa: MG503 <reason>` comments and their reach.

A statement silences a rule with a comment naming its code, anywhere in the statement, on the
comment lines directly above it, or at the end of its last line. A bare `-- noqa` (which silences
sqlfluff) does not silence these rules: a safety exception has to name what it waives.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ci.core.sqltext import Statement, split_pieces

_NOQA = re.compile(r"\bnoqa\s*:\s*(?P<codes>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)", re.IGNORECASE)
# what may follow the last statement that ends on a line, for its comment to waive: blanks and
# one `--` comment, nothing else (no string, no code)
_TRAILING = re.compile(r"[ \t\r\f]*(?:--[^\n]*)?")
_LEAD = re.compile(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
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

    A statement's scope is its own text, the comment lines directly above it (above the line it
    starts on, when another statement comes before it there), and the comment that ends the line
    it ends on (`DROP TABLE a; DROP TABLE b; -- noqa: MG503` waives both), but not the rest of
    the previous statement's line. Only comments count: what is in a string or a function body
    that ends on the line is not a comment after the statement.
    """
    if "noqa" not in text.lower():  # most files: no second split of a (possibly huge) file
        return {}
    pieces = split_pieces(text)
    newlines = [at for at, char in enumerate(text) if char == "\n"]

    def line_of(at: int) -> int:
        return bisect_right(newlines, at - 1) + 1

    last_end: dict[int, int] = {}  # line -> where the last statement that ends on it ends
    first_on: dict[int, Statement] = {}  # line -> the first statement whose code starts there
    for piece in pieces:
        if piece.keyword:
            end = piece.offset + len(piece.raw)
            last_end[line_of(end - 1)] = end
            first_on.setdefault(piece.line, piece)
    scopes: dict[int, set[str]] = {}
    for piece in pieces:
        own = piece.raw
        mid_line = piece.offset > 0 and text[piece.offset - 1] != "\n"
        if mid_line and piece.line > line_of(piece.offset):  # led by the line before's comment
            own = own[own.index("\n") :]
        elif mid_line and piece.keyword:  # another statement before it on its line
            own = _comments_above(text, first_on[piece.line]) + own
        end = piece.offset + len(piece.raw)
        after = last_end.get(line_of(end - 1), end) if end > piece.offset else end
        line_end = text.find("\n", after)
        tail = text[after : len(text) if line_end < 0 else line_end]
        scopes[piece.offset] = noqa_codes(own + ("\n" + tail if _TRAILING.fullmatch(tail) else ""))
    return scopes


def _comments_above(text: str, first: Statement) -> str:
    """The `--` comment lines directly above the line where `first`'s code starts, from its
    own leading comments (which the split keeps apart from strings and bodies)."""
    lead = first.raw[: _code_start(first.raw)]
    lines = lead.split("\n")[:-1]  # the last is the part of the code's line before the code
    if first.offset > 0 and text[first.offset - 1] != "\n" and lines:
        lines = lines[1:]  # the rest of the line before: the previous statement's
    above: list[str] = []
    for line in reversed(lines):
        if not line.strip().startswith("--"):
            break
        above.insert(0, line)
    return "\n".join(above) + "\n" if above else ""


def _code_start(raw: str) -> int:
    """Where the first token that is not a comment or a blank starts in `raw`."""
    match = _LEAD.match(raw)
    return match.end() if match else 0
