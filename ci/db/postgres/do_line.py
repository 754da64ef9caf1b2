"""The file line of an error raised while a `DO` block's body ran. The server gives no error
position for it, only a context line ("PL/pgSQL function inline_code_block line 4 at SQL
statement"), counted from the line where the body's string starts: the file's line is that
line's number plus 3 here. Without this, every error in a DO block named the line of `DO`.
"""

from __future__ import annotations

import itertools
import re

# the block's own line; a DO run by the block (EXECUTE 'DO ...') is listed before it
INLINE = re.compile(r"PL/pgSQL function inline_code_block line (\d+)")
DOLLAR_TAG = re.compile(r"\$[^$]*\$")
# a quote, blanks with a newline, a quote: inside a string a quote is doubled, never split
CONTINUED = re.compile(r"'[ \t\f\r]*\n\s*'")


def do_body_line(context: str | None, raw: str) -> int | None:
    """The line of `raw` (a DO statement, counted from 1) that the server's error `context`
    points at; None when the error was not raised by the body of this statement's block."""
    found = INLINE.findall(context or "")
    start = _body_start(raw) if found else None
    if start is None:
        return None
    return raw.count("\n", 0, start) + int(found[-1])


def _body_start(raw: str) -> int | None:
    """Where the body of the DO statement `raw` starts: the text of its string constant that
    is not the language's name. None for a body whose lines the server counts in another text
    than the file's: an escape string (E'...\\n...' makes a line of two), a Unicode one, one
    continued over lines, one with a backslash."""
    from pglast.parser import ParseError, scan

    from ci.db.postgres.statements import COMMENT_TOKENS

    try:
        tokens = scan(raw)
    except ParseError:
        return None
    tokens = [token for token in tokens if token.name not in COMMENT_TOKENS]
    if not tokens or tokens[0].name != "DO":
        return None
    for before, token in itertools.pairwise(tokens):
        if token.name != "SCONST" or before.name == "LANGUAGE":
            continue
        text = raw[token.start : token.end + 1]
        tag = DOLLAR_TAG.match(text)
        if tag is not None:
            return token.start + len(tag.group())
        # a plain string's lines are the file's unless it continues on the next line ('a'
        # <newline> 'b' is one string, the newline dropped) or holds a backslash (an escape
        # where standard_conforming_strings is off)
        plain = text.startswith("'") and not CONTINUED.search(text) and "\\" not in text
        return token.start + 1 if plain else None
    return None
