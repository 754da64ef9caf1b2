"""`python -m ci.postcheck` and the invariants file format (ci.db.invariants)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.core.model import InputError
from ci.db.invariants import parse_invariants
from ci.postcheck import main
from tests.conftest import HEALTHY, make_db

BOOKKEEPING = (
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT);"
    "INSERT INTO schema_version VALUES (1, 'x'), (2, 'y');"
)
INVARIANTS = (
    "-- Invariants of the example database.\n"
    "\n"
    "-- invariant: patients_have_mrn\n"
    "SELECT id FROM patients\n"
    " WHERE mrn IS NULL;\n"
    "\n"
    "-- invariant: vitals_have_patients\n"
    "SELECT v.id FROM vitals v LEFT JOIN patients p ON p.id = v.patient_id WHERE p.id IS NULL\n"
)


def test_version_and_invariants_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY + BOOKKEEPING)
    inv = tmp_path / "invariants.sql"
    inv.write_text(INVARIANTS)
    before = db.read_bytes()
    assert main(["--db", str(db), "--expect-version", "2", "--invariants", str(inv)]) == 0
    assert "OK postcheck: 6 passed" in capsys.readouterr().out
    assert db.read_bytes() == before


def test_wrong_version_and_broken_invariant_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(
        tmp_path / "app.db", HEALTHY + BOOKKEEPING + "INSERT INTO patients VALUES (2, NULL);"
    )
    inv = tmp_path / "invariants.sql"
    inv.write_text(INVARIANTS)
    assert main(["--db", str(db), "--expect-version", "3", "--invariants", str(inv)]) == 1
    out = capsys.readouterr().out
    assert "MG353 schema_version is 0002, expected 0003" in out
    assert f"{inv}:4: MG354 invariant 'patients_have_mrn' returned rows: (2,)" in out


def test_invariant_that_cannot_run_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make_db(tmp_path / "app.db", HEALTHY)
    inv = tmp_path / "invariants.sql"
    inv.write_text("-- invariant: typo\nSELECT * FROM patinets;\n")
    assert main(["--db", str(db), "--expect-version", "0", "--invariants", str(inv)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"postcheck: {inv}:2: invariant 'typo' cannot run: no such table: patinets"
    )


def test_parse_invariants_names_lines_and_queries(tmp_path: Path) -> None:
    path = tmp_path / "inv.sql"
    path.write_text(INVARIANTS)
    parsed = parse_invariants(path)
    assert [(i.name, i.line) for i in parsed] == [
        ("patients_have_mrn", 4),
        ("vitals_have_patients", 8),
    ]
    assert parsed[0].sql == "SELECT id FROM patients\n WHERE mrn IS NULL;"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no invariants"),
        ("SELECT 1;\n", "no invariants"),
        ("SELECT 1;\n-- invariant: a\nSELECT 2;\n", ":1: SQL before the first"),
        ("-- invariant: a\n\n", ":1: invariant 'a' has no query"),
        ("-- invariant: a\nSELECT 1;\nSELECT 2;\n", ":3: invariant 'a' has more than one"),
        (
            "-- invariant: a\nSELECT 1;\n-- invariant: a\nSELECT 2;\n",
            ":3: invariant 'a' is defined twice",
        ),
        ("-- invariant: a\nDELETE FROM t;\n", ":2: invariant 'a' must be a query"),
        ("-- invariant: \nSELECT 1;\n", ":1: invariant needs a name"),
        (b"-- invariant: a\nSELECT '\xff';\n", ":2: not valid UTF-8"),
    ],
)
def test_bad_invariants_files_are_one_line_naming_the_line(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    path = tmp_path / "inv.sql"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(InputError, match=message):
        parse_invariants(path)


def test_the_config_file_is_honoured_like_every_other_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invariants of migration-guard.yaml (a key the database checks share) and a
    `postcheck:` section apply to postcheck too; the command line still wins."""
    db = make_db(tmp_path / "app.db", HEALTHY + BOOKKEEPING)
    (tmp_path / "invariants.sql").write_text(INVARIANTS)
    (tmp_path / "migration-guard.yaml").write_text(
        "invariants: invariants.sql\npostcheck:\n  expect_version: 2\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["--db", str(db)]) == 0
    assert "OK postcheck: 6 passed" in capsys.readouterr().out
    assert main(["--db", str(db), "--expect-version", "3"]) == 1
    assert "expected 0003" in capsys.readouterr().out


def test_config_names_another_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every command that reads the config file, postcheck can be pointed at another one
    (a deploy's own, without CI's settings)."""
    db = make_db(tmp_path / "app.db", HEALTHY + BOOKKEEPING)
    (tmp_path / "migration-guard.yaml").write_text("postcheck:\n  expect_version: 3\n")
    (tmp_path / "deploy.yaml").write_text("postcheck:\n  expect_version: 2\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--db", str(db)]) == 1
    assert "expected 0003" in capsys.readouterr().out
    assert main(["--db", str(db), "--config", "deploy.yaml"]) == 0, capsys.readouterr()
