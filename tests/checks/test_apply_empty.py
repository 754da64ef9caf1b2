"""ci.apply_empty on small fixture directories and on the worked example (real SQLite, real
subprocesses where exit codes and tracebacks matter)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ci.apply_empty import main
from hooks.apply_empty import main as hook_main
from tests.conftest import REPO, WriteTree, run_module

BASE: dict[str, str | bytes] = {
    "m/schema/0001_initial.sql": (
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, mrn TEXT, notes TEXT);\n"
    ),
    "m/schema/0002_vitals.sql": (
        "CREATE TABLE vitals (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    patient_id INTEGER REFERENCES patients (id),\n"
        "    patient_mrn TEXT\n"
        ");\n"
    ),
    "m/data/0003_backfill.sql": (
        "UPDATE vitals SET patient_mrn = "
        "(SELECT mrn FROM patients WHERE patients.id = vitals.patient_id)\n"
        "WHERE patient_mrn IS NULL;\n"
    ),
    "m/seed/0001_settings.sql": (
        "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);\n"
        "INSERT OR IGNORE INTO settings VALUES ('deviceLabel', 'DEVICE-001');\n"
    ),
    "m/rollback/0001_rollback.sql": "DROP TABLE patients;\n",
    "m/rollback/0002_rollback.sql": "DROP TABLE vitals;\n",
    "m/rollback/0003_rollback.sql": "UPDATE vitals SET patient_mrn = NULL WHERE 0;\n",
}
INVARIANTS = (
    "-- invariant: seeded\n"
    "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = 'deviceLabel');\n"
)


def run(root: Path, *args: str) -> int:
    return main(["--migrations-dir", str(root / "m"), *args])


def test_passes_with_one_case_per_migration_and_validation(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = write_tree({**BASE, "inv.sql": INVARIANTS})
    junit = tmp_path / "report.xml"
    assert run(root, "--invariants", str(root / "inv.sql"), "--junit", str(junit)) == 0
    assert "OK apply_empty: 8 passed" in capsys.readouterr().out
    names = [case.get("name") for case in ET.parse(junit).iter("testcase")]
    assert names == [
        "0001 schema/0001_initial.sql",
        "0002 schema/0002_vitals.sql",
        "0003 data/0003_backfill.sql",
        "seed-0001 seed/0001_settings.sql",
        "integrity_check",
        "foreign_key_check",
        "version",
        "invariant: seeded",
    ]


def test_a_failing_migration_names_file_and_line_and_stops(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = write_tree(
        {
            **BASE,
            "m/data/0003_backfill.sql": (
                "-- copy the MRN\nUPDATE vitals SET patient_mrn = NULL;\n\n"
                "UPDATE nosuch SET x = 1;\n"
            ),
        }
    )
    junit = tmp_path / "report.xml"
    assert run(root, "--junit", str(junit)) == 1
    out = capsys.readouterr().out
    path = root / "m/data/0003_backfill.sql"
    assert f"{path}:4: MG301 no such table: nosuch" in out
    assert "1 skipped" in out  # the seed did not run
    failed = [c for c in ET.parse(junit).iter("testcase") if c.find("failure") is not None]
    assert [(c.get("file"), c.get("line")) for c in failed] == [(str(path), "4")]


def test_an_invariant_that_returns_rows_fails(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**BASE, "inv.sql": "-- invariant: no_settings\nSELECT key FROM settings;\n"})
    assert run(root, "--invariants", str(root / "inv.sql")) == 1
    out = capsys.readouterr().out
    assert (
        f"{root / 'inv.sql'}:2: MG306 invariant 'no_settings' returned rows: ('deviceLabel',)"
        in (out)
    )


def test_version_check_and_seed_order(write_tree: WriteTree) -> None:
    # the seed needs a table created by the highest main-track migration: seeds run last
    root = write_tree(
        {
            **BASE,
            "m/seed/0001_settings.sql": "INSERT INTO vitals (patient_mrn) VALUES ('seeded');\n",
        }
    )
    assert run(root) == 0


def test_two_files_with_one_number_are_not_applied(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**BASE, "m/data/0002_other.sql": "SELECT 1;\n"})
    assert run(root) == 1
    out = capsys.readouterr().out
    assert f"{root / 'm/schema/0002_vitals.sql'}: MG310 number 0002 is also used by " in out
    assert "FAILED apply_empty: 0 passed, 1 failed" in out


def test_warn_slow_flags_but_passes(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(BASE)
    assert run(root, "--warn-slow", "0") == 0
    out = capsys.readouterr().out
    assert "MG302 warning: 0001 took" in out
    assert "(more than --warn-slow 0 s)" in out


def test_setup_callable_runs_on_the_check_connection(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            **BASE,
            "myapp_db.py": (
                "def register(conn):\n"
                "    conn.create_function('mrn_of', 1, lambda i: f'MRN-{i}', deterministic=True)\n"
            ),
            "m/data/0003_backfill.sql": "UPDATE vitals SET patient_mrn = mrn_of(patient_id);\n",
        }
    )
    without = run_module("ci.apply_empty", "--migrations-dir", "m", cwd=root)
    assert without.returncode == 1
    assert "no such function: mrn_of" in without.stdout
    done = run_module(
        "ci.apply_empty", "--migrations-dir", "m", "--setup", "myapp_db:register", cwd=root
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        (["--setup", "myapp_db:nothing"], {"myapp_db.py": "x = 1\n"}, "has no function nothing"),
        (["--setup", "no_such_module:f"], {}, "cannot import no_such_module"),
        (
            ["--invariants", "inv.sql"],
            {"inv.sql": "-- invariant: broken\nSELEC 1 FROM settings;\n"},
            "must be a query",
        ),
        (
            ["--invariants", "inv.sql"],
            {"inv.sql": "-- invariant: broken\nSELECT FROM WHERE;\n"},
            "inv.sql:2: invariant 'broken' cannot run",
        ),
        (["--invariants", "missing.sql"], {}, "invariants file not found"),
        (["--schema-snapshot", "missing.sql"], {}, "schema snapshot not found"),
        (["--write-snapshot"], {}, "--write-snapshot needs --schema-snapshot"),
    ],
)
def test_could_not_run_is_one_line_exit_2(
    write_tree: WriteTree, extra: list[str], files: dict[str, str | bytes], message: str
) -> None:
    root = write_tree({**BASE, **files})
    done = run_module("ci.apply_empty", "--migrations-dir", "m", *extra, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_busy_timeout_is_not_an_option_of_a_check_without_a_users_database(
    write_tree: WriteTree,
) -> None:
    """apply_empty only opens its own throwaway database: nothing to wait for (exit 2)."""
    root = write_tree(BASE)
    done = run_module("ci.apply_empty", "--migrations-dir", "m", "--busy-timeout", "5", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unrecognized arguments: --busy-timeout" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_directory_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--migrations-dir", str(tmp_path / "nope")]) == 2
    assert "migrations directory not found" in capsys.readouterr().err


def test_hook_returns_at_once_when_no_file_is_a_migration(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree({**BASE, "m/schema/0002_vitals.sql": "CREATE TABLE broken (;\n"})
    args = ["--migrations-dir", str(root / "m")]
    assert hook_main([*args, str(root / "README.md")]) == 0
    assert capsys.readouterr().out == ""
    assert hook_main([*args, str(root / "m/schema/0001_initial.sql")]) == 1


def test_the_worked_example_passes_with_invariants_and_snapshot() -> None:
    done = run_module(
        "ci.apply_empty",
        "--invariants",
        "schema/invariants.sql",
        "--schema-snapshot",
        "schema/schema.sql",
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK apply_empty:")


def test_a_file_that_cannot_be_placed_is_a_failure_not_skipped(
    write_tree: WriteTree, capsys: pytest.CaptureFixture[str]
) -> None:
    """A migration misnamed `0002_B.sql` would otherwise never run and nobody would notice."""
    root = write_tree(
        {
            "m/schema/0001_a.sql": "CREATE TABLE a (x);\n",
            "m/schema/0002_B.sql": "CREATE TABLE b (x);\n",
        }
    )
    code = main(["--migrations-dir", str(root / "m")])
    assert code == 1
    assert "0002_B.sql: MG103 malformed migration name" in capsys.readouterr().out
