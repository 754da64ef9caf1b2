"""Property-based tests (hypothesis) for the statement splitter and directory discovery.

The splitter is fed random statement sequences built from the things that break naive splitters:
`;` inside strings, quoted identifiers and comments, triggers with `BEGIN ... END` bodies, `CASE ...
END`, explicit transactions, empty statements and CRLF line ends. Because the generator knows where
each statement starts and ends, the split must reproduce its pieces exactly.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci.core.sqltext import code_fingerprint, split_pieces, split_statements, strip_comments

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that confuse splitters, plus ordinary text; no NUL (the model rejects it earlier).
TRICKY = st.sampled_from(
    [";", "'", '"', "`", "[", "]", "-", "--", "/*", "*/", "*", "/", "\n", " ", "END", "BEGIN",
     "CASE", "é", "a", "x1"]
)  # fmt: skip
CONTENT = st.lists(TRICKY, max_size=8).map("".join)


def _quoted(quote: str, close: str, content: str) -> str:
    if close == "]":
        return "[" + content.replace("]", "") + "]"
    return quote + content.replace(close, close * 2) + close


def _block_body(content: str) -> str:
    return content.replace("*/", "* /")


string_literal = CONTENT.map(lambda c: _quoted("'", "'", c))
identifier = st.one_of(
    st.sampled_from(["t", "patients", "vitals", "x_1"]),
    CONTENT.map(lambda c: _quoted('"', '"', c)),
    CONTENT.map(lambda c: _quoted("[", "]", c)),
    CONTENT.map(lambda c: _quoted("`", "`", c)),
)
# ("-- note": never "-- @word", a directive, which does change the code fingerprint)
line_comment = CONTENT.map(lambda c: "-- note " + c.replace("\n", " ") + "\n")
block_comment = CONTENT.map(lambda c: "/* " + _block_body(c) + " */")
# A separator between two tokens: always contains whitespace or a comment.
separator = st.one_of(
    st.sampled_from([" ", "\n", "  ", "\t", " \n "]),
    line_comment,
    block_comment.map(lambda c: " " + c + " "),
)


@dataclass(frozen=True)
class Generated:
    keyword: str  # expected first keyword ('' for an empty statement)
    tokens: tuple[str, ...]  # the statement's tokens; the last one is ';'


@st.composite
def simple_statement(draw: st.DrawFn) -> Generated:
    lit, ident = draw(string_literal), draw(identifier)
    choice = draw(st.integers(0, 6))
    if choice == 0:
        tokens: tuple[str, ...] = ("INSERT", "INTO", ident, "VALUES", "(", lit, ",", "1", ")")
    elif choice == 1:
        tokens = ("SELECT", lit, "AS", ident, "FROM", draw(identifier))
    elif choice == 2:
        tokens = ("UPDATE", ident, "SET", "x", "=", lit, "WHERE", "id", "=", "1")
    elif choice == 3:
        tokens = ("CREATE", "TABLE", ident, "(", "c", "TEXT", "DEFAULT", lit, ")")
    elif choice == 4:
        tokens = ("SELECT", "CASE", "WHEN", "1", "THEN", lit, "ELSE", "'b'", "END")
    elif choice == 5:
        tokens = ("DELETE", "FROM", ident, "WHERE", "name", "=", lit)
    else:
        tokens = draw(st.sampled_from([("BEGIN",), ("COMMIT",), ("END", "TRANSACTION")]))
    return Generated(tokens[0], (*tokens, ";"))


@st.composite
def trigger_statement(draw: st.DrawFn) -> Generated:
    body: list[str] = []
    for inner in draw(st.lists(simple_statement(), min_size=1, max_size=3)):
        if inner.keyword in ("BEGIN", "COMMIT", "END", "CREATE"):
            continue  # not allowed inside a trigger body
        body.extend(inner.tokens)
    if not body:
        body = ["SELECT", draw(string_literal), ";"]
    head = ("CREATE", "TRIGGER", draw(identifier), "AFTER", "INSERT", "ON", draw(identifier))
    return Generated("CREATE", (*head, "BEGIN", *body, "END", ";"))


statement = st.one_of(
    simple_statement(),
    trigger_statement(),
    st.just(Generated("", (";",))),  # an empty statement
)


@dataclass(frozen=True)
class Script:
    pieces: list[str]  # the exact pieces the splitter must return
    keywords: list[str]  # per piece; '' = no statement in it
    lines: list[int]  # per piece: line of the first token (0 when none)
    variant: str  # the same statements with different separators (comments/whitespace only)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _join(tokens: tuple[str, ...], separators: list[str]) -> str:
    out = [tokens[0]]
    for token, sep in zip(tokens[1:], separators, strict=True):
        out.append(sep + token)
    return "".join(out)


@st.composite
def script(draw: st.DrawFn) -> Script:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    pieces: list[str] = []
    keywords: list[str] = []
    lines: list[int] = []
    variant: list[str] = []
    line = 1
    for generated in draw(st.lists(statement, min_size=0, max_size=6)):
        lead = draw(st.lists(separator, max_size=2).map("".join))
        gaps = [draw(separator) for _ in generated.tokens[1:]]
        piece = lead + _join(generated.tokens, gaps)
        pieces.append(piece)
        keywords.append(generated.keyword)
        lines.append(line + lead.count("\n") if generated.keyword else 0)
        line += piece.count("\n")
        variant.append((" " if lead else "") + " ".join(generated.tokens))
    trailing = draw(st.lists(separator, max_size=2).map("".join))
    trailing += draw(st.sampled_from(["", "-- last; line without a newline"]))
    if trailing:
        variant.append(" ")
        pieces.append(trailing)
        keywords.append("")
        lines.append(0)
    if newline != "\n":
        pieces = [p.replace("\n", newline) for p in pieces]
    return Script(pieces, keywords, lines, "".join(variant))


@SETTINGS
@given(script())
def test_split_pieces_returns_exactly_the_generated_pieces(generated: Script) -> None:
    pieces = split_pieces(generated.text)
    assert [p.raw for p in pieces] == generated.pieces
    assert "".join(p.raw for p in pieces) == generated.text
    offsets = [p.offset for p in pieces]
    assert offsets == [sum(map(len, generated.pieces[:i])) for i in range(len(pieces))]


@SETTINGS
@given(script())
def test_every_statement_is_complete_and_counted(generated: Script) -> None:
    statements = split_statements(generated.text)
    expected = [k for k in generated.keywords if k]
    assert [s.keyword for s in statements] == expected
    for statement in statements:
        assert sqlite3.complete_statement(statement.raw), statement.raw
    expected_lines = [n for n, k in zip(generated.lines, generated.keywords, strict=True) if k]
    assert [s.line for s in statements] == expected_lines


@SETTINGS
@given(script())
def test_comments_and_whitespace_do_not_change_the_code_fingerprint(generated: Script) -> None:
    assert code_fingerprint(generated.text) == code_fingerprint(generated.variant)


@SETTINGS
@given(script())
def test_strip_comments_keeps_line_count_and_comment_free_text(generated: Script) -> None:
    assert strip_comments(generated.text).count("\n") == generated.text.count("\n")
    assert strip_comments(generated.variant) == generated.variant


def test_splitter_regressions() -> None:
    """Shapes found while writing the properties, kept as plain examples."""
    text = (
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET x = CASE WHEN 1 THEN ';' END;\n"
        "END;\r\n-- trailing; comment"
    )
    assert [s.keyword for s in split_statements(text)] == ["CREATE"]
    assert "".join(p.raw for p in split_pieces(text)) == text


def test_many_statements_keep_their_lines() -> None:
    """Regression: each piece's line used to be counted from the start of the file (O(n^2) in
    the number of statements: a 50 MB file of INSERTs never finished)."""
    text = "INSERT INTO t VALUES (1, 'a;b');\n" * 60_000
    statements = split_statements(text)
    assert len(statements) == 60_000
    assert [s.line for s in statements[-3:]] == [59_998, 59_999, 60_000]


def test_long_trigger_body_is_one_statement() -> None:
    """Regression: every `;` of a trigger body re-checked the whole piece (O(n^2) in the body);
    only a `;` right after END can complete it."""
    body = "".join(f"  UPDATE t SET x = 'END;' WHERE id = {i}; -- END;\n" for i in range(20_000))
    text = f"CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n{body}END /* x */ ;\nSELECT 1;\n"
    statements = split_statements(text)
    assert [(s.keyword, s.line) for s in statements] == [("CREATE", 1), ("SELECT", 20_003)]
    assert sqlite3.complete_statement(statements[0].raw)


# --- numbering: random directory layouts against an oracle ---------------------------------------

MAIN_PLACES = ("schema", "data", "")  # "" = flat, directly in the migrations root


@st.composite
def layout(draw: st.DrawFn) -> dict[str, list[tuple[str, int, int]]]:
    """{track: [(folder, number, width)]}: numbers may repeat (across folders and widths)."""
    numbers = st.integers(min_value=1, max_value=12)
    main = draw(
        st.lists(st.tuples(st.sampled_from(MAIN_PLACES), numbers, st.sampled_from([4, 4, 5])),
                 max_size=10)
    )  # fmt: skip
    seeds = draw(st.lists(st.tuples(st.just("seed"), numbers, st.just(4)), max_size=5))
    return {"main": main, "seed": seeds}


def _write_layout(root: Path, files: dict[str, list[tuple[str, int, int]]]) -> None:
    for track, entries in files.items():
        for index, (folder, number, width) in enumerate(entries):
            directory = root / folder if folder else root
            directory.mkdir(parents=True, exist_ok=True)
            name = f"{number:0{width}d}_m{index}.sql"
            (directory / name).write_text("SELECT 1;\n", encoding="utf-8")
            if track == "main":  # every main-track number has its rollback
                (root / "rollback").mkdir(exist_ok=True)
                (root / "rollback" / f"{number:04d}_rollback.sql").write_text("SELECT 1;\n")


def _oracle(entries: list[tuple[str, int, int]]) -> tuple[dict[int, int], set[int]]:
    """(extra files per duplicated number, numbers that follow a gap) of one track."""
    counts: dict[int, int] = {}
    for _, number, _ in entries:
        counts[number] = counts.get(number, 0) + 1
    duplicates = {n: c - 1 for n, c in counts.items() if c > 1}
    gaps, previous = set(), 0
    for number in sorted(counts):
        if number > previous + 1:
            gaps.add(number)
        previous = number
    return duplicates, gaps


def _number_of(finding_path: str) -> int:
    return int(Path(finding_path).name.split("_", 1)[0])


@settings(max_examples=60, deadline=None)
@given(layout())
def test_numbering_duplicates_and_gaps_match_an_oracle(
    files: dict[str, list[tuple[str, int, int]]],
) -> None:
    from ci.checks.numbering import find_problems
    from ci.core.model import discover

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "migrations"
        root.mkdir()
        _write_layout(root, files)
        findings = find_problems(discover(root))
    for track in ("main", "seed"):
        duplicates, gaps = _oracle(files[track])
        mine = [f for f in findings if ("/seed/" in (f.path or "")) == (track == "seed")]
        found_duplicates: dict[int, int] = {}
        for f in mine:
            if f.code == "MG101":
                number = _number_of(f.path or "")
                found_duplicates[number] = found_duplicates.get(number, 0) + 1
        assert found_duplicates == duplicates, (track, findings)
        assert {_number_of(f.path or "") for f in mine if f.code == "MG102"} == gaps, track
    expected_clean = all(_oracle(files[t]) == ({}, set()) for t in files)
    assert (not [f for f in findings if f.is_error]) == expected_clean, findings
