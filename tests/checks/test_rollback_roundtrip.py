"""ci.rollback_roundtrip: each kind of broken rollback is caught and described in words."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ci.rollback_roundtrip import main
from hooks.rollback_roundtrip import main as hook_main
from tests.conftest import REPO, WriteTree, git, run_module

BASE: dict[str, str | bytes] = {
    "m/schema/0001_patients.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT, notes TEXT);\n"
    ),
    "m/schema/0002_vitals.sql": (
        "CREATE TABLE vitals (id INTEGER PRIMARY KEY,\n"
        "    patient_id INTEGER REFERENCES patients (id), value REAL);\n"
        "CREATE INDEX idx_vitals_patient ON vitals (patient_id);\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "m/rollback/0002_rollback.sql": "DROP INDEX idx_vitals_patient;\nDROP TABLE vitals;\n",
    "sample.sql": (
        "-- @sample-version 2\n"
        "INSERT INTO patients (id, mrn, notes) VALUES (1, 'M1', 'x'), (2, 'M2', NULL);\n"
        "INSERT INTO vitals (patient_id, value) VALUES (1, 1.0), (1, 1.5), (2, 2.5);\n"
    ),
}


def run(root: Path, *args: str) -> int:
    return main(["--migrations-dir", str(root / "m"), *args])


def test_good_rollbacks_pass_on_empty_and_sample(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_notes_index.sql": "CREATE INDEX idx_notes ON patients (notes);\n",
            "m/rollback/0003_rollback.sql": "DROP INDEX idx_notes;\n",
        }
    )
    junit = tmp_path / "r.xml"
    assert run(root, "--sample", str(root / "sample.sql"), "--junit", str(junit)) == 0
    assert "OK rollback_roundtrip: 6 passed" in capsys.readouterr().out
    cases = [(c.get("classname"), c.get("name")) for c in ET.parse(junit).iter("testcase")]
    assert cases == [
        ("rollback_roundtrip.empty", "0001 schema/0001_patients.sql"),
        ("rollback_roundtrip.empty", "0002 schema/0002_vitals.sql"),
        ("rollback_roundtrip.empty", "0003 schema/0003_notes_index.sql"),
        ("rollback_roundtrip.sample", "0003 schema/0003_notes_index.sql"),
        (
            "rollback_roundtrip.sample",
            "0002 schema/0002_vitals.sql (rolled back on the sample data)",
        ),
        (
            "rollback_roundtrip.sample",
            "0001 schema/0001_patients.sql (rolled back on the sample data)",
        ),
    ]


@pytest.mark.parametrize(
    ("migration", "rollback", "expected"),
    [
        (
            "CREATE INDEX idx_x ON vitals (value);\n",
            "SELECT 1;\n",
            "index idx_x on vitals left behind",
        ),
        (
            "ALTER TABLE patients ADD COLUMN phone TEXT;\n",
            "SELECT 'forgot';\n",
            "column patients.phone still present",
        ),
        (
            "ALTER TABLE patients DROP COLUMN notes;\n",
            "ALTER TABLE patients ADD COLUMN notes VARCHAR(768);\n",
            "column patients.notes type TEXT -> VARCHAR(768)",
        ),
        (
            "CREATE TABLE audit (what TEXT);\n",
            "DROP TABLE vitals;\n",
            "table audit left behind; table vitals missing",
        ),
    ],
)
def test_a_rollback_that_does_not_restore_the_schema(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    migration: str,
    rollback: str,
    expected: str,
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_change.sql": migration,
            "m/rollback/0003_rollback.sql": rollback,
        }
    )
    assert run(root) == 1
    out = capsys.readouterr().out
    assert (
        f"{root / 'm/rollback/0003_rollback.sql'}: MG404 rolling back 0003 does not restore "
        f"the empty database: {expected}." in out
    )


def test_a_rollback_that_drops_a_tables_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_add_unit.sql": "ALTER TABLE vitals ADD COLUMN unit TEXT;\n",
            # rebuilds vitals without the column, but forgets to copy the rows
            "m/rollback/0003_rollback.sql": (
                "PRAGMA foreign_keys = OFF;\n"
                "CREATE TABLE vitals_old (id INTEGER PRIMARY KEY,\n"
                "    patient_id INTEGER REFERENCES patients (id), value REAL);\n"
                "DROP TABLE vitals;\n"
                "ALTER TABLE vitals_old RENAME TO vitals;\n"
                "CREATE INDEX idx_vitals_patient ON vitals (patient_id);\n"
            ),
        }
    )
    assert run(root) == 0  # on an empty database there are no rows to lose
    capsys.readouterr()
    assert run(root, "--sample", str(root / "sample.sql")) == 1
    out = capsys.readouterr().out
    assert (
        "MG404 rolling back 0003 does not restore the sample data: table vitals: 3 rows lost"
        in (out)
    )
    assert "1 failed" in out


def test_a_rollback_below_the_sample_version_that_drops_rows(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample already has 0003: rolling it back and applying it again must keep the rows
    of tables 0003 did not create (the values of the column it adds go, by design)."""
    sample = str(BASE["sample.sql"]).replace("@sample-version 2", "@sample-version 3")
    rebuild = (
        "PRAGMA foreign_keys = OFF;\n"
        "CREATE TABLE vitals_old (id INTEGER PRIMARY KEY,\n"
        "    patient_id INTEGER REFERENCES patients (id), value REAL);\n"
        "{copy}"
        "DROP TABLE vitals;\n"
        "ALTER TABLE vitals_old RENAME TO vitals;\n"
        "CREATE INDEX idx_vitals_patient ON vitals (patient_id);\n"
    )
    copy = "INSERT INTO vitals_old SELECT id, patient_id, value FROM vitals;\n"
    root = write_tree(
        {
            **BASE,
            "sample.sql": sample,
            "m/schema/0003_add_unit.sql": "ALTER TABLE vitals ADD COLUMN unit TEXT;\n",
            "m/rollback/0003_rollback.sql": rebuild.format(copy=copy),
        }
    )
    assert run(root, "--sample", str(root / "sample.sql")) == 0
    capsys.readouterr()
    (root / "m/rollback/0003_rollback.sql").write_text(rebuild.format(copy=""))
    assert run(root, "--sample", str(root / "sample.sql")) == 1
    out = capsys.readouterr().out
    assert (
        f"{root / 'm/rollback/0003_rollback.sql'}: MG407 rolling back 0003 on the sample data "
        "and applying it again loses rows: table vitals: 3 rows lost." in out
    )


def test_a_data_rollback_that_changes_content(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/data/0003_upper.sql": "UPDATE patients SET mrn = upper(mrn) || '-X';\n",
            "m/rollback/0003_rollback.sql": "UPDATE patients SET mrn = lower(mrn);\n",
        }
    )
    assert run(root, "--sample", str(root / "sample.sql")) == 1
    assert "table patients: content changed (same row count)" in capsys.readouterr().out


VITALS = (
    "CREATE TABLE vitals (id INTEGER PRIMARY KEY,\n"
    "    patient_id INTEGER REFERENCES patients (id), value REAL);\n"
)


@pytest.mark.parametrize(
    ("migration", "rollback", "expected"),
    [
        # the index is dropped again, but the rollback also deletes a row
        (
            "CREATE INDEX idx_x ON vitals (value);\n",
            "DROP INDEX idx_x;\nDELETE FROM vitals WHERE id = 1;\n",
            "table vitals: 1 row lost",
        ),
        # the index is dropped again; vitals is written only by a trigger the rollback fires
        (
            "CREATE INDEX idx_x ON vitals (value);\n"
            "CREATE TRIGGER vitals_bump AFTER UPDATE ON patients"
            " BEGIN UPDATE vitals SET value = value + 1; END;\n",
            "UPDATE patients SET notes = notes;\nDROP TRIGGER vitals_bump;\nDROP INDEX idx_x;\n",
            "table vitals: content changed (same row count): column value: 3 rows "
            "(id=1: 1.0 -> 3.0, id=2: 1.5 -> 3.5, id=3: 2.5 -> 4.5)",
        ),
        # the same table again, with its index, but empty
        (
            "CREATE INDEX idx_x ON vitals (value);\n",
            "PRAGMA foreign_keys = OFF;\nDROP INDEX idx_x;\nDROP TABLE vitals;\n"
            + VITALS
            + "CREATE INDEX idx_vitals_patient ON vitals (patient_id);\n",
            "table vitals: 3 rows lost",
        ),
        # the index comes back on another column
        (
            "DROP INDEX idx_vitals_patient;\n",
            "CREATE INDEX idx_vitals_patient ON vitals (value);\n",
            "index idx_vitals_patient columns (patient_id) -> (value)",
        ),
    ],
)
def test_a_rollback_of_an_index_or_trigger_that_changes_rows_or_shape(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    migration: str,
    rollback: str,
    expected: str,
) -> None:
    """Index and trigger steps keep a table's rows unread only when nothing wrote to it."""
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_change.sql": migration,
            "m/rollback/0003_rollback.sql": rollback,
        }
    )
    assert run(root, "--sample", str(root / "sample.sql")) == 1
    out = capsys.readouterr().out
    # on the sample data at least (an empty table has no rows to lose)
    assert (
        f"{root / 'm/rollback/0003_rollback.sql'}: MG404 rolling back 0003 does not restore "
        f"the sample data: {expected}." in out
    ), out


def test_a_migration_that_gives_another_result_when_re_applied(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            # total_changes() counts the connection's changes: more on the second run
            "m/data/0003_token.sql": (
                "INSERT INTO patients (mrn) VALUES ('TMP-' || total_changes());\n"
            ),
            "m/rollback/0003_rollback.sql": "DELETE FROM patients WHERE mrn LIKE 'TMP-%';\n",
        }
    )
    assert run(root) == 1
    out = capsys.readouterr().out
    assert (
        f"{root / 'm/rollback/0003_rollback.sql'}: MG406 re-applying 0003 after its rollback "
        "on the empty database gives another result: table patients: content changed "
        "(same row count): column mrn: 1 row (id=1: 'TMP-" in out
    ), out


@pytest.mark.parametrize(
    ("rollback", "code", "message"),
    [
        (None, "MG401", "0003 has no rollback file"),
        (  # a comment alone passes only for a no-op migration: the way out is said
            "-- nothing to undo\n\n",
            "MG402",
            "the rollback of 0003 is empty (no SQL statement), so it undoes nothing. To fix: "
            "write the statements that undo the migration; if it cannot be undone, put "
            "'-- @irreversible <reason>' in schema/0003_index.sql and delete the rollback file",
        ),
        (  # the directive in the wrong file: the hint says where it goes
            "-- @irreversible the index stays\n",
            "MG402",
            "the rollback of 0003 is empty (no SQL statement), so it undoes nothing. To fix: "
            "write the statements that undo the migration; or, if it "
            "cannot be undone, move '-- @irreversible <reason>' to the migration file "
            "schema/0003_index.sql",
        ),
        (
            "DROP INDEX idx_x;\nDROP TABLE nosuch;\n",
            "MG403",
            "rolling back 0003 on the empty database fails",
        ),
    ],
)
def test_missing_empty_and_failing_rollbacks_fail(
    write_tree: WriteTree,
    capsys: pytest.CaptureFixture[str],
    rollback: str | None,
    code: str,
    message: str,
) -> None:
    files = {**BASE, "m/schema/0003_index.sql": "CREATE INDEX idx_x ON vitals (value);\n"}
    if rollback is not None:
        files["m/rollback/0003_rollback.sql"] = rollback
    root = write_tree(files)
    assert run(root) == 1
    out = capsys.readouterr().out
    assert f"{code} {message}" in out
    if code == "MG403":
        assert f"{root / 'm/rollback/0003_rollback.sql'}:2: MG403" in out


def test_irreversible_is_skipped_with_its_reason(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/data/0003_purge.sql": (
                "-- @irreversible deleted rows cannot come back\nDELETE FROM vitals;\n"
            ),
        }
    )
    junit = tmp_path / "r.xml"
    assert run(root, "--junit", str(junit)) == 0
    assert "1 skipped" in capsys.readouterr().out
    skipped = [c.find("skipped") for c in ET.parse(junit).iter("testcase")]
    messages = [s.get("message") for s in skipped if s is not None]
    assert messages == ["@irreversible: deleted rows cannot come back"]


def test_a_migration_that_does_not_apply_stops_the_run(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/schema/0002_vitals.sql": "CREATE TABLE vitals (;\n",
        }
    )
    assert run(root) == 1
    out = capsys.readouterr().out
    assert f"{root / 'm/schema/0002_vitals.sql'}:1: MG301 0002 does not apply" in out


def test_base_ref_round_trips_only_new_migrations(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for relative, content in BASE.items():
        path = git_repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(content))
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "base")
    (git_repo / "m/schema/0003_index.sql").write_text("CREATE INDEX idx_x ON vitals (value);\n")
    (git_repo / "m/rollback/0003_rollback.sql").write_text("SELECT 1;\n")
    assert run(git_repo, "--base-ref", "main") == 1
    out = capsys.readouterr().out
    assert "index idx_x on vitals left behind" in out
    assert "0 passed, 1 failed" in out or "1 failed" in out
    assert "OK" not in out.splitlines()[-1]
    done = run_module(
        "ci.rollback_roundtrip", "--migrations-dir", "m", "--base-ref", "nosuch", cwd=git_repo
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "git ref 'nosuch' does not exist" in done.stderr


def test_missing_setup_callable_is_one_line_exit_2(write_tree: WriteTree) -> None:
    root = write_tree(BASE)
    done = run_module(
        "ci.rollback_roundtrip", "--migrations-dir", "m", "--setup", "os:nope", cwd=root
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "rollback_roundtrip: --setup os:nope: os has no function nope"


def test_hook_returns_at_once_when_no_file_is_a_migration(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**BASE, "m/rollback/0002_rollback.sql": "SELECT 1;\n"})
    args = ["--migrations-dir", str(root / "m")]
    assert hook_main([*args, str(root / "sample.sql")]) == 0
    assert capsys.readouterr().out == ""
    assert hook_main([*args, str(root / "m/rollback/0002_rollback.sql")]) == 1


def test_the_worked_example_round_trips_on_empty_and_sample() -> None:
    done = run_module(
        "ci.rollback_roundtrip", "--sample", "schema/sample/sample_data.sql", cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("pragma", ["user_version", "application_id"])
def test_a_rollback_that_leaves_a_header_pragma_changed_fails(
    write_tree: WriteTree, tmp_path: Path, pragma: str
) -> None:
    """`PRAGMA user_version` / `application_id` are part of what a rollback must restore."""
    root = write_tree(
        {
            **BASE,
            "m/schema/0003_stamp.sql": f"PRAGMA {pragma} = 7;\n",
            "m/rollback/0003_rollback.sql": "SELECT 1;\n",
        }
    )
    done = run_module("ci.rollback_roundtrip", "--migrations-dir", str(root / "m"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MG404" in done.stdout
    assert f"{pragma} 0 before, 7 after" in done.stdout
    fixed = root / "m" / "rollback" / "0003_rollback.sql"
    fixed.write_text(f"PRAGMA {pragma} = 0;\n")
    done = run_module("ci.rollback_roundtrip", "--migrations-dir", str(root / "m"))
    assert done.returncode == 0, done.stdout + done.stderr
