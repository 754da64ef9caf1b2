"""The database checks' scenarios that mean the same on both engines, run on each
(tests/checks/engines.py writes them in each dialect): a failing migration named by file and
line, a rollback that leaves a table or an index behind, a missing rollback, an irreversible
migration, a no-op migration, rows lost on the sample data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.checks.pg_engine import discover_for, splitter_for
from tests.checks.engines import ENGINES, SCENARIOS, run_check, write
from tests.conftest import MIGRATIONS, git, output, run_module


@pytest.mark.parametrize("engine", ENGINES)
def test_a_good_tree_passes_every_database_check(engine: str, tmp_path: Path) -> None:
    root = write(tmp_path, engine, SCENARIOS["no-op"])
    for module, args in (
        ("ci.apply_empty", ()),
        ("ci.rollback_roundtrip", ("--sample", "sample.sql")),
        ("ci.apply_sample", ("--sample", "sample.sql")),
    ):
        done = run_check(module, root, engine, *args)
        assert done.returncode == 0, output(done)
        assert "Traceback" not in output(done)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("module", ["ci.apply_empty", "ci.rollback_roundtrip"])
def test_a_failing_migration_is_named_by_file_and_line(
    engine: str, module: str, tmp_path: Path
) -> None:
    root = write(tmp_path, engine, SCENARIOS["failing"])
    done = run_check(module, root, engine)
    assert done.returncode == 1, output(done)
    where = f"{root / MIGRATIONS}/schema/0003_broken.sql:3: MG301 "
    assert where in done.stdout, output(done)
    assert "nope" in done.stdout


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("scenario", "named"),
    [("index left behind", "index idx_vitals_value"), ("table left behind", "notes")],
)
def test_a_rollback_that_leaves_something_behind_names_it(
    engine: str, scenario: str, named: str, tmp_path: Path
) -> None:
    root = write(tmp_path, engine, SCENARIOS[scenario])
    done = run_check("ci.rollback_roundtrip", root, engine)
    assert done.returncode == 1, output(done)
    line = next(line for line in done.stdout.splitlines() if " MG404 " in line)
    assert line.startswith(f"{root / MIGRATIONS}/rollback/0003_rollback.sql: MG404 rolling back")
    assert named in line and "left behind" in line, line


@pytest.mark.parametrize("engine", ENGINES)
def test_a_missing_rollback_fails(engine: str, tmp_path: Path) -> None:
    root = write(tmp_path, engine, SCENARIOS["missing rollback"])
    done = run_check("ci.rollback_roundtrip", root, engine)
    assert done.returncode == 1, output(done)
    assert "MG401 0003 has no rollback file" in done.stdout, output(done)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_irreversible_migration_is_skipped_with_its_reason(engine: str, tmp_path: Path) -> None:
    root = write(tmp_path, engine, SCENARIOS["irreversible"])
    junit = tmp_path / "r.xml"
    done = run_check("ci.rollback_roundtrip", root, engine, "--junit", str(junit))
    assert done.returncode == 0, output(done)
    assert "@irreversible: backfill" in junit.read_text(encoding="utf-8")


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_a_migration_deletes_on_the_sample_are_lost_rows(engine: str, tmp_path: Path) -> None:
    extra = {"data/0003_prune.sql": "-- @irreversible prune\nDELETE FROM vitals WHERE id > 1;\n"}
    root = write(tmp_path, engine, extra)
    done = run_check("ci.apply_sample", root, engine, "--sample", "sample.sql")
    assert done.returncode == 1, output(done)
    assert "MG308 table vitals: 2 rows lost" in done.stdout, output(done)
    (root / MIGRATIONS / "data/0003_prune.sql").write_text(
        "-- @irreversible prune\n-- @allow-row-loss vitals\nDELETE FROM vitals WHERE id > 1;\n"
    )
    done = run_check("ci.apply_sample", root, engine, "--sample", "sample.sql")
    assert done.returncode == 0, output(done)


# A function whose body holds statements of its own: one statement on PostgreSQL, where SQLite's
# rules would cut it at each `;` of the body.
FUNCTION = (
    "CREATE FUNCTION reset_vitals() RETURNS void LANGUAGE plpgsql AS $body$\n"
    "BEGIN\n"
    "  UPDATE vitals SET value = 0;\n"
    "  DELETE FROM vitals;\n"
    "END;\n"
    "$body$;\n"
)


def test_a_postgresql_catalog_splits_its_files_as_the_server_does(tmp_path: Path) -> None:
    root = write(tmp_path, "postgresql", {"schema/0003_reset.sql": FUNCTION})
    for engine, count in (("sqlite", 4), ("postgresql", 1)):
        catalog = discover_for(root / MIGRATIONS, engine)
        statements = catalog.by_version(3).file.statements  # type: ignore[union-attr]
        assert len(statements) == count, (engine, statements)
        rollback = catalog.by_version(1).rollback  # type: ignore[union-attr]
        assert rollback is not None and rollback.splitter is splitter_for(engine)


def test_lint_on_postgresql_reads_a_function_body_as_part_of_its_statement(
    tmp_path: Path,
) -> None:
    """The safety rules see one CREATE FUNCTION, not the DML of its body cut loose: no
    "DML in schema/" (MG501), no "UPDATE without WHERE" (MG502)."""
    root = write(tmp_path, "postgresql", {"schema/0003_reset.sql": FUNCTION})
    path = str(root / MIGRATIONS / "schema/0003_reset.sql")
    sqlite = run_module("ci.lint", "--no-sqlfluff", path, cwd=root)
    assert "MG501" in sqlite.stdout and "MG502" in sqlite.stdout, output(sqlite)
    done = run_module("ci.lint", "--no-sqlfluff", "--engine", "postgresql", path, cwd=root)
    assert "Traceback" not in output(done)
    assert "MG501" not in done.stdout and "MG502" not in done.stdout, output(done)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rollback_that_loses_sample_rows_is_caught_rolling_back_the_sample(
    engine: str, tmp_path: Path
) -> None:
    extra = {
        "schema/0003_unit.sql": "ALTER TABLE vitals ADD COLUMN unit text;\n",
        "rollback/0003_rollback.sql": (
            "DELETE FROM vitals WHERE id > 1;\nALTER TABLE vitals DROP COLUMN unit;\n"
        ),
    }
    root = write(tmp_path, engine, extra)
    sample = root / "sample.sql"
    sample.write_text(sample.read_text().replace("version 2", "version 3"))
    done = run_check("ci.rollback_roundtrip", root, engine, "--sample", "sample.sql")
    assert done.returncode == 1, output(done)
    line = next(line for line in done.stdout.splitlines() if " MG407 " in line)
    assert "rolling back 0003 on the sample data and applying it again loses rows" in line
    assert "table vitals: 2 rows lost" in line, line


@pytest.mark.parametrize("engine", ENGINES)
def test_a_branch_behind_a_remote_main_passes_with_base_ref(engine: str, tmp_path: Path) -> None:
    """The pre-push hook and CI pass `--base-ref origin/main`: once main exists on the remote,
    a branch's push must run the checks, not be refused (a newcomer's PostgreSQL push was)."""
    root = write(tmp_path / "work", engine, SCENARIOS["no-op"])
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", str(remote))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main")
    git(root, "push", "-q", "origin", "main")
    git(root, "checkout", "-q", "-b", "feature")
    for module in ("ci.apply_empty", "ci.rollback_roundtrip"):
        done = run_check(module, root, engine, "--base-ref", "origin/main")
        assert done.returncode == 0, output(done)


@pytest.mark.parametrize("engine", ENGINES)
def test_after_a_failed_re_apply_the_rest_is_skipped_for_that_reason(
    engine: str, tmp_path: Path
) -> None:
    """0003 applies; its rollback leaves the table, so applying it again fails (MG405) and the
    round trip stops there: the migrations after it say so, not that 0003 did not apply. The
    advice names each file with its folder (the two share a name)."""
    later = {"schema/0004_later.sql": "CREATE TABLE later (x integer);\n",
             "rollback/0004_rollback.sql": "DROP TABLE later;\n"}  # fmt: skip
    root = write(tmp_path, engine, {**SCENARIOS["table left behind"], **later})
    junit = tmp_path / "r.xml"
    done = run_check("ci.rollback_roundtrip", root, engine, "--junit", str(junit))
    assert done.returncode == 1, output(done)
    mg405 = next(line for line in done.stdout.splitlines() if " MG405 " in line)
    thing = "table notes" if engine == "sqlite" else "relation notes"  # each engine's word
    assert f"make rollback/0003_rollback.sql drop {thing}, as it undoes schema/0003_notes.sql" in (
        mg405), mg405  # fmt: skip
    reason = "not run: 0003 could not be applied again after its rollback (MG405)"
    assert reason in junit.read_text(encoding="utf-8"), output(done)
    assert 'could not be applied"' not in junit.read_text(encoding="utf-8")
