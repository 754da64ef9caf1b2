"""code_fingerprint is stored (lock files, users' databases): the faster tokeniser must give
byte-identical fingerprints. The oracle is the single tokenising regex it replaced, kept here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ci.core.sqltext import _fingerprint_tokens, _sha256, code_fingerprint, directive_lines
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import corpus  # bench/ is not a package

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The tokeniser code_fingerprint used up to this change: the oracle, byte for byte.
_ORACLE = re.compile(
    r"""\s+ | --[^\n]* | /\*.*?(?:\*/|\Z)
    | ( \w+ | '[^']*(?:''[^']*)*'? | "[^"]*(?:""[^"]*)*"? | `[^`]*(?:``[^`]*)*`? | \[[^\]]*\]?
      | \S )""",
    re.VERBOSE | re.DOTALL,
)


def oracle_tokens(text: str) -> list[str]:
    return list(filter(None, _ORACLE.findall(text)))


def oracle_fingerprint(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tokens = oracle_tokens(text)
    directives = [
        " ".join([f"@{match['word'].lower()}", *match["args"].split()])
        for _, match in directive_lines(text.removeprefix("\ufeff"))
    ]
    if directives:
        tokens = [*directives, "\x1e", *tokens]
    return _sha256("\x1f".join(tokens).encode())


def assert_identical(text: str) -> None:
    assert _fingerprint_tokens(text) == oracle_tokens(text)
    assert code_fingerprint(text) == oracle_fingerprint(text)


# What breaks tokenisers: comment and quote openers and closers, doubled quotes (escapes), line
# ends of every kind, a BOM, Unicode whitespace, digits and letters, control characters.
PIECES = st.sampled_from(
    ["--", "-", "/*", "*/", "*", "/", "'", "''", '"', '""', "`", "``", "[", "]", ";", "\n", "\r\n",
     "\r", " ", "\t", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\ufeff",
     "\x00", "\x01", "\x7f", "é", "ß", "²", "\u0661", "Ⅻ", "中", "😀", "\u0301", "€", "_", "a1",
     "SELECT", "x", "42", "@", "-- @batch 10\n", "-- @no-transaction\n", "(", ")", ",", ".",
     "$", "\\"]
)  # fmt: skip
SQL_LIKE = st.lists(PIECES, max_size=40).map("".join)
# Binary junk: as UTF-8 with replacement characters, or as Latin-1 (every byte a character).
JUNK = st.binary(max_size=200).map(
    lambda data: data.decode("utf-8", "replace") if data[:1] != b"\xff" else data.decode("latin-1")
)


@SETTINGS
@given(SQL_LIKE)
@example("/*/ x */ y")
@example("'it''s' 'open")
@example('a--b\r\n[x y] `q``r` "s""t" /* unterminated')
@example("\ufeff-- @batch 5\nUPDATE t SET a = 1;")
def test_tricky_sql_text_gives_the_oracles_fingerprint(text: str) -> None:
    assert_identical(text)


@SETTINGS
@given(st.text(max_size=200))
def test_any_unicode_text_gives_the_oracles_fingerprint(text: str) -> None:
    assert_identical(text)


@SETTINGS
@given(JUNK)
def test_binary_junk_gives_the_oracles_fingerprint(text: str) -> None:
    assert_identical(text)


@SETTINGS
@given(st.lists(st.one_of(SQL_LIKE, st.text(max_size=20)), max_size=6).map("".join))
def test_mixed_text_gives_the_oracles_fingerprint(text: str) -> None:
    assert_identical(text)


def test_every_sql_file_of_the_repo_gives_the_oracles_fingerprint() -> None:
    paths = sorted(p for p in REPO.rglob("*.sql") if ".git" not in p.parts)
    assert len(paths) > 10  # the examples and the test data
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        assert code_fingerprint(text) == oracle_fingerprint(text), path


def test_every_file_of_the_bench_corpora_gives_the_oracles_fingerprint(tmp_path: Path) -> None:
    written = corpus.write_corpus(tmp_path / "corpus", 1000)
    batch = corpus.write_batch_corpus(tmp_path / "batch")
    paths = [*written.apply_order, *written.rollbacks, *batch.apply_order, *batch.rollbacks]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert code_fingerprint(text) == oracle_fingerprint(text), path


@pytest.mark.parametrize(
    ("text", "fingerprint"),
    [
        (
            "CREATE TABLE t (a INT);\n",
            "dac0024b966449da59bc492aa6e50e9a3a969c183a6bbda5a8778a234c799024",
        ),
        (
            "-- @batch 100\r\nUPDATE t SET a = 'x  y' /* c */ WHERE [b c] = 1;",
            "85fab38d246debb4a5619566c0f2959e963950fa688b714aeda52da53aad6403",
        ),
        (
            '\ufeffSELECT \'é\', "q""" , `n` -- end',
            "ad5ace1e116d836c1d8e96f03787be96036d1401cd4590e2a725aed4ac473dfd",
        ),
    ],
)
def test_fingerprints_recorded_before_stay_the_same(text: str, fingerprint: str) -> None:
    """Values the old tokeniser wrote, written down: an oracle that drifted would not catch it."""
    assert code_fingerprint(text) == fingerprint
