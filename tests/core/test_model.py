from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci.core.findings import Finding
from ci.core.model import (
    CatalogProblem,
    InputError,
    SqlFile,
    discover,
    parse_directives,
    parse_name,
)
from ci.core.model.discovery import CHECKED
from tests.conftest import M, WriteTree


def test_parse_name() -> None:
    assert parse_name("0005_add_adt.sql") == (5, "add_adt")
    assert parse_name("12345_x9.sql") == (12345, "x9")
    for bad in ("005_x.sql", "0005_Add.sql", "0005 x.sql", "0005_x.SQL", "0005-x.sql", "x.sql"):
        assert parse_name(bad) is None, bad


def test_discover_subfolders_tracks_and_rollbacks(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);",
            f"{M}/data/0002_fill.sql": "UPDATE t SET a = 1 WHERE a IS NULL;",
            f"{M}/seed/0001_defaults.sql": "INSERT OR IGNORE INTO t VALUES (1);",
            f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;",
            f"{M}/.gitkeep": "",
        }
    )
    catalog = discover(root / M)
    assert [(m.label, m.kind, m.track) for m in catalog.main] == [
        ("0001", "schema", "main"),
        ("0002", "data", "main"),
    ]
    assert [m.label for m in catalog.seeds] == ["seed-0001"]
    assert catalog.main[0].rollback is not None
    assert catalog.main[1].rollback is None
    assert catalog.head == 2
    assert catalog.problems == []


def test_discover_flat_layout(write_tree: WriteTree) -> None:
    root = write_tree({"db/0001_a.sql": "SELECT 1;", "db/0002_b.sql": "SELECT 2;"})
    catalog = discover(root / "db")
    assert [(m.version, m.kind) for m in catalog.main] == [(1, "schema"), (2, "schema")]


def test_discover_reports_every_bad_entry(write_tree: WriteTree, tmp_path: Path) -> None:
    root = write_tree(
        {
            f"{M}/schema/01_short.sql": "",
            f"{M}/schema/0002_Upper.sql": "",
            f"{M}/schema/0003_x.txt": "",
            f"{M}/schema/0004_dir.sql/inner": "",
            f"{M}/other/0005_x.sql": "",
        }
    )
    outside = tmp_path / "outside.sql"
    outside.write_text("SELECT 1;")
    os.symlink(outside, root / M / "schema" / "0006_link.sql")
    problems = discover(root / M).problems
    assert sorted(Path(p.path or "").name for p in problems) == [
        "0002_Upper.sql",
        "0003_x.txt",
        "0004_dir.sql",
        "0006_link.sql",
        "01_short.sql",
        "other",
    ]
    assert {p.code for p in problems} == {"MG103", "MG104", "MG105"}


def test_a_catalog_problem_names_no_check_until_one_reports_it(write_tree: WriteTree) -> None:
    root = write_tree({f"{M}/schema/01_short.sql": ""})
    [problem] = discover(root / M).problems
    assert isinstance(problem, CatalogProblem)
    assert not hasattr(problem, "check")
    assert problem.finding("numbering") == Finding(
        "numbering", "MG103", problem.path, None, problem.message, problem.hint
    )
    assert problem.message.startswith("malformed migration name: '01_short.sql'")


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        discover(tmp_path / "nope")


def test_directives() -> None:
    text = (
        "-- a comment\n-- @batch 500\n-- @progress SELECT COUNT(*) FROM v\n"
        "-- @allow-row-loss Vitals, settings\n-- @no-transaction\n-- @irreversible data gone\n"
        "UPDATE v SET a = 1 WHERE rowid IN (SELECT rowid FROM v LIMIT :batch_size);\n"
        "-- @unknown after the first statement is ignored\n"
    )
    d = parse_directives(text, Path("f.sql"))
    assert d.batch == 500
    assert d.progress == "SELECT COUNT(*) FROM v"
    assert d.allows_row_loss("vitals") and not d.allows_row_loss("patients")
    assert d.no_transaction
    assert d.irreversible == "data gone"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- @bach 5\nSELECT 1;", r"f.sql:1: unknown directive @bach \(did you mean @batch\?"),
        ("-- @frobnicate\nSELECT 1;", r"f.sql:1: unknown directive @frobnicate \(known: @irr"),
        (
            "-- @\u200birreversible gone\nSELECT 1;",
            r"f.sql:1: directive line has an invisible character \(U\+200B ZERO WIDTH SPACE\) "
            r"in or before its name, which hides the directive: retype it as "
            r"`-- @irreversible gone`",
        ),
        ("\n--\ufeff@no-transaction\nSELECT 1;", r"f.sql:2: .*\(U\+FEFF ZERO WIDTH NO-BREAK"),
        ("-- @irre\u200bversible gone\nSELECT 1;", r"f.sql:1: .*`-- @irreversible gone`"),
        ("\n-- @batch many\nSELECT 1;", r"f.sql:2: @batch needs a positive row count"),
        ("-- @irreversible\nSELECT 1;", r"f.sql:1: @irreversible needs an argument"),
    ],
)
def test_bad_directives_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_directives(text, Path("f.sql"))


def test_format_characters_after_the_name_are_the_arguments_own() -> None:
    family = "\U0001f468\u200d\U0001f469"  # an emoji sequence joined by U+200D
    text = f"-- @irreversible data gone {family}\n-- mail a\u200b@b.org\nSELECT 1;"
    assert parse_directives(text, Path("f.sql")).irreversible == f"data gone {family}"


def test_sql_file_decodes_bom_crlf(tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_bytes(b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n")
    file = SqlFile(path)
    assert file.text == "SELECT 1;\nSELECT 2;\n"
    assert [s.line for s in file.statements] == [1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SELECT 1;\n\xff\xfe;", r"0001_a.sql:2: not valid UTF-8 \(byte 0xff\)"),
        (b"SQLite format 3\x00\x00", r"0001_a.sql: binary file"),
    ],
)
def test_sql_file_bad_bytes_are_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as error:
        _ = SqlFile(path).text
    assert "\n" not in str(error.value)


def test_sql_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        _ = SqlFile(tmp_path / "0001_a.sql").data


@pytest.mark.parametrize(
    "entry",
    [
        None,  # a well-named folder: no problem, no rollback paired
        "0002_Upper.sql",
        "0000_zero.sql",
        "1000000000_too_big.sql",
        "002_short.sql",
        "0002_x.SQL",
        "0002_x.sql\n",
        "\u0660\u0660\u0660\u0662_arabic_digits.sql",
        "0002_dir.sql/",
        "0002_link.sql@",
        ".hidden_dir/",
        ".gitkeep",
    ],
)
def test_checked_rollbacks_record_the_same_problems_and_pair_nothing(
    write_tree: WriteTree, entry: str | None
) -> None:
    """discover(rollbacks=CHECKED), what a run that applies lists: the same problems as the full
    listing, from one pattern over the names while every entry is fine."""
    files = {
        f"{M}/schema/0001_init.sql": "CREATE TABLE t (a);",
        f"{M}/rollback/0001_rollback.sql": "DROP TABLE t;",
    }
    root = write_tree(files) / M
    if entry is not None and entry.endswith("/"):
        (root / "rollback" / entry[:-1]).mkdir()
    elif entry is not None and entry.endswith("@"):
        os.symlink(root / "schema" / "0001_init.sql", root / "rollback" / entry[:-1])
    elif entry is not None:
        (root / "rollback" / entry).write_text("SELECT 1;\n")
    full, checked = discover(root), discover(root, rollbacks=CHECKED)
    assert checked.problems == full.problems
    assert checked.symlinks == full.symlinks
    assert [m.file for m in checked.main] == [m.file for m in full.main]
    assert full.main[0].rollback is not None
    if entry in (None, ".gitkeep"):
        assert checked.problems == [] and checked.main[0].rollback is None
