"""The tokens of SQL text as the engine's own scanner sees them: what the code fingerprint hashes.

"Only comments or whitespace changed" is a promise about the statements the engine runs, so the
split between code, comments and whitespace has to be the engine's, not an approximation: SQLite
reads `1.e5` as one number and `1. e5` as a number with an alias, `x'41'` as a blob and
`x '41'` as a column with an alias, and a no-break space as part of an identifier. PostgreSQL
reads `--` inside `$$ ... $$` or a nested `/* /* */ */` as data or comment where SQLite's rules
would not, so a PostgreSQL project's text is tokenised by PostgreSQL's own scanner (pglast,
imported only then).
"""

from __future__ import annotations

import re

# SQLite's tokenizer (tokenize.c, sqlite3GetToken), one alternative per token class. Whitespace
# is only space, \t, \n, \f, \r (a \v or a no-break space is not: \v is an illegal token, a byte
# >= 0x80 is an identifier character). An unterminated string, identifier or comment runs to the
# end, as SQLite reads it. A number swallows the identifier characters right after it (`1abc` is
# one illegal token in SQLite, not a number and a word). The commonest tokens are tried first (a
# blob before the identifier it would start, then the punctuation no longer token starts with).
# Identifier characters as negated ASCII classes: a class spanning \x80-\U0010ffff costs the
# regex compiler ~100 million instructions (it walks the whole range), paid by every run.
_ID = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # A-Z a-z 0-9 _ $, >= 0x80
_ID_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"  # A-Z a-z _, >= 0x80
_SQLITE_TOKEN = re.compile(
    rf"""[ \t\n\f\r]*+ (?: (?: --[^\n]* | /\*.*?(?:\*/|\Z) ) [ \t\n\f\r]*+ )*+
    ( [xX]'[^']*'?
    | {_ID_START}{_ID}*
    | [(),;*+]
    | '[^']*(?:''[^']*)*'? | "[^"]*(?:""[^"]*)*"? | `[^`]*(?:``[^`]*)*`? | \[[^\]]*\]?
    | (?: 0[xX][0-9A-Fa-f_]* | (?:[0-9][0-9_]*(?:\.[0-9_]*)? | \.[0-9][0-9_]*)
          (?:[eE][+-]?[0-9][0-9_]*)? ) {_ID}*
    | [?:@$#]{_ID}*
    | ->> | -> | == | <= | <> | << | >= | >> | != | \|\|
    | .
    | \Z )""",
    re.VERBOSE | re.DOTALL,
)


def sqlite_tokens(text: str) -> list[str]:
    """The tokens SQLite's tokenizer reads in `text`, comments and whitespace dropped."""
    return list(filter(None, _SQLITE_TOKEN.findall(text)))


_PG_COMMENTS = ("SQL_COMMENT", "C_COMMENT")


def postgresql_tokens(text: str) -> list[str] | None:
    """The tokens PostgreSQL's scanner reads (dollar quotes, E'' strings, nested comments);
    None when it cannot scan the text, so the caller answers "statements changed"."""
    try:
        from pglast.parser import scan
    except ImportError:  # pglast comes with the PostgreSQL extra: without it, no verdict
        return None
    try:
        tokens = scan(text)
    except Exception:  # pglast raises its own ParseError and others: no verdict either
        return None
    # offsets are characters, the end inclusive
    return [text[t.start : t.end + 1] for t in tokens if t.name not in _PG_COMMENTS]


def engine_tokens(text: str, engine: str) -> list[str] | None:
    """The code tokens of `text` for `engine` ('sqlite' or 'postgresql'); None: no verdict."""
    if engine == "postgresql":
        return postgresql_tokens(text)
    if engine == "sqlite":
        return sqlite_tokens(text)
    return None
