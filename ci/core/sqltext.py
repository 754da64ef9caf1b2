"""SQL text without a database: statement splitting, comment stripping, checksums.

The splitter asks SQLite's own `sqlite3.complete_statement` whether a piece is a whole statement,
so trigger bodies (`BEGIN ... END`), semicolons in strings and in comments are handled exactly as
SQLite handles them. `complete_statement` needs no connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any

CHECKSUM_PREFIX = "v1:"
# the code fingerprint's format: v2 tokenises as the engine does (v1 approximated it)
FINGERPRINT_VERSION = "v2"
_BOM = b"\xef\xbb\xbf"


class Statement:
    """One statement of a file: `raw` is the exact text (joined back, the pieces give the file).

    A plain class, not a dataclass: `ci.numbering` and `ci.checksums` import this module and
    their whole process is budgeted; `import dataclasses` alone costs ~12 ms.
    """

    # _code and _keyword: computed on first use, then kept (every lint rule and the splitter
    # ask again; recomputing `code` strips the comments of the statement each time)
    __slots__ = ("_code", "_keyword", "line", "offset", "raw")

    def __init__(self, raw: str, line: int, offset: int) -> None:
        self.raw = raw
        self.line = line  # 1-based line of the statement's first token
        self.offset = offset  # character offset of `raw` in the file
        self._code: str | None = None
        self._keyword: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Statement):
            return NotImplemented
        return (self.raw, self.line, self.offset) == (other.raw, other.line, other.offset)

    def __hash__(self) -> int:
        return hash((self.raw, self.line, self.offset))

    def __repr__(self) -> str:
        return f"Statement(raw={self.raw!r}, line={self.line!r}, offset={self.offset!r})"

    @property
    def sql(self) -> str:
        return self.raw.strip()

    @property
    def code(self) -> str:
        """The statement without comments, whitespace folded: what a rule should look at."""
        if self._code is None:
            self._code = " ".join(strip_comments(self.raw).split())
        return self._code

    @property
    def keyword(self) -> str:
        """The first word, upper case ('' for a comment-only piece)."""
        if self._keyword is None:
            self._keyword = self._first_word()
        return self._keyword

    def _first_word(self) -> str:
        match = _FIRST_TOKEN.match(self.raw)
        word = match[1] if match else ""
        if not _NOT_PLAIN.search(word):
            # no quote and no comment can start inside it: the same word `code` would give,
            # without stripping the comments of the whole statement
            return word.rstrip(";").upper()
        words = self.code.split(maxsplit=1)
        return words[0].rstrip(";").upper() if words else ""


def normalise_bytes(data: bytes) -> bytes:
    """Remove a leading UTF-8 BOM and turn CRLF and CR into LF; nothing else."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _sha256(data: bytes) -> str:
    digest: str = _sha256_of()(data).hexdigest()
    return digest


@cache
def _sha256_of() -> Callable[[bytes], Any]:
    """sha256 from CPython's built-in module where there is one (`_sha2` from 3.12, `_sha256`
    before): hashlib would load OpenSSL for it (~4 ms of the start-up the performance budgets
    measure for
    ci.checksums; ci.numbering never hashes). The digest is the same; hashlib otherwise."""
    import importlib

    for name in ("_sha2", "_sha256"):
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


def checksum(data: bytes) -> str:
    """The `v1:` checksum of a file's bytes."""
    return CHECKSUM_PREFIX + _sha256(normalise_bytes(data))


def raw_sha256(data: bytes) -> str:
    """The plain sha256 other tools write; accepted as a match for rows without a prefix."""
    return _sha256(data)


def checksum_matches(recorded: str, data: bytes) -> bool:
    """Whether a recorded checksum (ours, or another tool's raw sha256) matches these bytes."""
    recorded = recorded.strip().lower()
    if recorded.startswith(CHECKSUM_PREFIX):
        return recorded == checksum(data)
    # the bytes as they are first: the second hash only for a file whose line ends changed
    return recorded == raw_sha256(data) or recorded == raw_sha256(normalise_bytes(data))


class LazyPattern:
    """A regular expression compiled on first use. Compiling this module's and the model's
    patterns costs ~3 ms, and the static checks that import them (budgeted as whole processes,
    the budgeted ones) mostly never use one."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, text: str, pos: int = 0, endpos: int = 2**63 - 1) -> re.Match[str] | None:
        return self.compiled.match(text, pos, endpos)

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def sub(self, replacement: str, text: str) -> str:
        return self.compiled.sub(replacement, text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text)

    def findall(self, text: str) -> list[Any]:  # str, or tuples for several groups
        return self.compiled.findall(text)


# One pass over the text finds the semicolons that are outside strings, identifiers and comments.
# Each match first skips the characters that cannot start one of them, so the search never tries
# every alternative at every position (a third of the cost on typical migrations); at the end,
# `\Z` ends the last match instead of a failed search from each remaining position.
_TOKEN = LazyPattern(
    r"""
    [^-/'"`\[;]*
    (?:
      (?P<line>--[^\n]*)
    | (?P<block>/\*.*?(?:\*/|\Z))
    | (?P<quoted>'[^']*(?:''[^']*)*(?:'|\Z) | "[^"]*(?:""[^"]*)*(?:"|\Z)
                | `[^`]*(?:``[^`]*)*(?:`|\Z) | \[[^\]]*(?:\]|\Z))
    | (?P<semi>;)
    | [-/]
    | \Z
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_ENDS_WITH_END = LazyPattern(r"\bEND\s*$", re.IGNORECASE)
_FIRST_TOKEN = LazyPattern(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*(\S*)", re.DOTALL)
_NOT_PLAIN = LazyPattern(r"['\"`\[/-]")
_COMMENT_OR_SPACE = LazyPattern(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)


def split_statements(text: str) -> list[Statement]:
    """Split SQL text into statements, each with the line of its first token.

    A trailing piece without a semicolon is a statement too (SQLite runs it); a trailing piece
    that is only comments and whitespace is dropped from the list (but `split_pieces` keeps it).
    """
    return [piece for piece in split_pieces(text) if piece.keyword]


def split_pieces(text: str) -> list[Statement]:
    """Like `split_statements`, but every character of `text` is in exactly one piece."""
    import sqlite3  # only the splitter needs it: ci.numbering and ci.checksums never split

    pieces: list[Statement] = []
    start = 0
    line = 1  # line of `start`; counted piece by piece (counting from 0 each time is O(n^2))
    previous = 0  # end of the previous semicolon
    for match in _TOKEN.finditer(text):
        if match.lastgroup != "semi":
            continue
        end, since = match.end(), previous
        previous = end
        # Only a trigger body leaves a piece incomplete at a `;`; it then completes only at a
        # `;` right after END, so other semicolons need not re-scan the piece (O(n^2) otherwise).
        if since > start and not _ENDS_WITH_END.search(strip_comments(text[since : end - 1])):
            continue
        if sqlite3.complete_statement(text[start:end]):
            pieces.append(_piece(text, start, end, line))
            line += text.count("\n", start, end)
            start = end
    if start < len(text):
        pieces.append(_piece(text, start, len(text), line))
    return pieces


def _piece(text: str, start: int, end: int, line: int) -> Statement:
    lead = _COMMENT_OR_SPACE.match(text, start, end)
    first = lead.end() if lead else start
    return Statement(raw=text[start:end], line=line + text.count("\n", start, first), offset=start)


def strip_comments(sql: str) -> str:
    """Remove `--` and `/* */` comments, keeping strings (and line breaks) intact."""
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "line" or kind == "block":
            comment = match[kind]
            out.append(sql[last : match.start(kind)])
            out.append("\n" * comment.count("\n") or " ")
            last = match.end()
    out.append(sql[last:])
    return "".join(out)


# A directive: a `-- @word args` line among the comments before the first statement. SQLite
# skips it as a comment, but it changes how the file is run (@no-transaction, @batch, ...).
DIRECTIVE = LazyPattern(r"^--\s*@(?P<word>[A-Za-z][\w-]*)\s*(?P<args>.*?)\s*$")


def directive_lines(text: str) -> Iterator[tuple[int, re.Match[str]]]:
    """(line number, match) of each directive line: the `--` lines before the first statement."""
    for number, line in leading_comment_lines(text):
        match = DIRECTIVE.match(line)
        if match is not None:
            yield number, match


def leading_comment_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of the `--` lines before the first statement that hold an
    `@`: where directives are (none of them when the text has no `@`)."""
    if "@" not in text:  # most files: no line of theirs needs reading
        return
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        if "@" in stripped:
            yield number, stripped


def code_fingerprint(text: str, engine: str = "sqlite") -> str:
    """A hash of the statements' tokens and the directives, comments and whitespace removed.

    Two versions of a file with equal fingerprints differ only in whitespace or comments as
    `engine`'s own scanner reads them (`ci.core.sqltokens`): `(a)` vs `( a )` is equal, `1.e5`
    vs `1. e5`, `x'41'` vs `x '41'`, or a `--` inside a PostgreSQL `$$ ... $$` is not. Whitespace
    inside a literal is data, and so is adding, removing or changing a directive. A text the
    scanner cannot read gets a fingerprint no other text has: "statements changed", the safe
    verdict. The engine's name is hashed first, so fingerprints recorded by the earlier
    approximate tokeniser (and by another engine) never match: an edit of such a file reads
    as "statements changed", never as "only comments".
    """
    from ci.core.sqltokens import engine_tokens

    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as the checksum does
    tokens = engine_tokens(text, engine)
    if tokens is None:  # no verdict: unique to this text and this call's engine
        return _sha256(f"\x1dunscanned:{engine}\x1d{text}".encode("utf-8", "surrogatepass"))
    directives = [
        " ".join([f"@{match['word'].lower()}", *match["args"].split()])
        for _, match in directive_lines(text.removeprefix("\ufeff"))
    ]
    if directives:  # kept apart from the statements' tokens by a separator no token contains
        tokens = [*directives, "\x1e", *tokens]
    head = f"\x1d{FINGERPRINT_VERSION}:{engine}\x1d"
    return _sha256((head + "\x1f".join(tokens)).encode("utf-8", "surrogatepass"))


def same_statements(recorded_code: str | None, text: str, engine: str = "sqlite") -> bool:
    """Whether `text` still has the statements and directives whose fingerprint was recorded
    when it was applied: an edit of comments or whitespace only, the one edit of an applied
    file that may be accepted (the lock rehash; ci.migrate --rehash). `recorded_code`: a
    code_fingerprint, whole (a database's row) or its first characters (a lock entry's
    `code:`); None or empty proves nothing, and neither does one recorded in an earlier
    format or for another engine (it never matches: "statements changed")."""
    return bool(recorded_code) and code_fingerprint(text, engine).startswith(recorded_code or "")
