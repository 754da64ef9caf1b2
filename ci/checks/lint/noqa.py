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
    for index, piece in enumerate(pieces):
        own = piece.raw
        if piece.offset > 0 and text[piece.offset - 1] != "\n" and "\n" in own:
            own = own[own.index("\n") :]
        tail = pieces[index + 1].raw.split("\n", 1)[0] if index + 1 < len(pieces) else ""
        scopes[piece.offset] = noqa_codes(own + "\n" + tail)
    return scopes
