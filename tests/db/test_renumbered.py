"""A number reused after it was applied (the branch renumbered `0002_vitals` to 0003 and put
another migration at 0002): --status, a run and a rollback say so, naming both slugs, instead of
calling the file edited. Real SQLite files, the real runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.db.outcomes import whole_ms
from tests.conftest import BASE, MIGRATIONS, WriteTree, dump, run_module, tree, versions
from tests.db.test_migrate import migrate
from tests.db.test_migrate_json import migrate_json

REVIEWS = "CREATE TABLE reviews (id INTEGER PRIMARY KEY, body TEXT);\n"
SAID = (
    "the database applied 0002 'vitals', but 0002 is now 'add_reviews': the number was "
    "reused (renumbered after it was applied?)"
)


def renumbered(write_tree: WriteTree, tmp_path: Path) -> tuple[Path, Path]:
    """BASE applied, then 0002_vitals.sql moved to 0003 and 0002 given to add_reviews."""
    root = write_tree(tree(BASE))
    db = root / "app.db"  # where migrate_json's --db app.db finds it
    assert migrate(root, db, "--no-backup") == 0
    old = root / MIGRATIONS / "schema/0002_vitals.sql"
    old.rename(old.with_name("0003_vitals.sql"))
    write_tree(tree({"schema/0002_add_reviews.sql": REVIEWS}))
    return root, db


def test_status_says_the_number_was_reused_not_edited(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = renumbered(write_tree, tmp_path)
    capsys.readouterr()
    assert migrate(root, db, "--status") == 1
    out = capsys.readouterr().out
    assert f"NUMBER REUSED: {root / MIGRATIONS}/schema/0002_add_reviews.sql: {SAID}" in out
    assert "EDITED" not in out


def test_a_run_and_a_rollback_refuse_it_and_say_the_way_out(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = renumbered(write_tree, tmp_path)
    before = dump(db)
    capsys.readouterr()
    assert migrate(root, db, "--no-backup") == 1
    err = capsys.readouterr().err
    assert SAID in err and "edited after it was applied" not in err
    assert "recreate it, or check out the commit before the renumbering" in err
    assert "run --rollback 2 there" in err
    assert migrate(root, db, "--rollback", "2", "--no-backup") == 1
    assert SAID in capsys.readouterr().err
    assert dump(db) == before and versions(db) == [("schema", 1), ("schema", 2)]


def test_an_edit_under_the_same_slug_is_still_an_edit(
    write_tree: WriteTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tree(BASE))
    db = tmp_path / "app.db"
    assert migrate(root, db, "--no-backup") == 0
    write_tree(tree({"schema/0002_vitals.sql": "CREATE TABLE vitals (id INTEGER);\n"}))
    capsys.readouterr()
    assert migrate(root, db, "--no-backup") == 1
    err = capsys.readouterr().err
    assert "0002_vitals.sql: edited after it was applied (statements changed)" in err
    assert "reused" not in err


def test_json_status_carries_the_new_state(write_tree: WriteTree, tmp_path: Path) -> None:
    root, _ = renumbered(write_tree, tmp_path)
    doc, done = migrate_json(root, "--status")
    assert done.returncode == 1 and doc["outcome"] == "problems"
    row = doc["applied"][1]  # type: ignore[index]
    assert row["state"] == "number-reused" and SAID in row["state_message"]
    assert row["name"] == "vitals" and row["file"] == f"{MIGRATIONS}/schema/0002_add_reviews.sql"


@pytest.mark.parametrize(
    ("seconds", "ms"), [(0.0, 0), (0.0004, 0), (0.0005, 1), (0.0009, 1), (0.0123, 12), (2.0, 2000)]
)
def test_one_rounding_rule_whole_milliseconds_to_the_nearest(seconds: float, ms: int) -> None:
    assert whole_ms(seconds) == ms


def test_run_json_times_are_the_recorded_whole_milliseconds(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    root = write_tree(tree(BASE))
    doc, done = migrate_json(root)
    assert done.returncode == 0
    run = doc["run"]
    assert isinstance(run, dict)
    steps = [s["execution_time_ms"] for s in run["steps"]]
    assert all(type(ms) is int for ms in steps) and type(run["execution_time_ms"]) is int
    assert run["execution_time_ms"] == sum(steps)
    status, _ = migrate_json(root, "--status")
    recorded = [row["execution_time_ms"] for row in status["applied"]]  # type: ignore[union-attr]
    assert recorded == steps  # the run said what the table recorded, to the millisecond
    # and the apply lines print the same figures
    printed = [
        int(line.rsplit(", ", 1)[1].split()[0])
        for line in done.stderr.splitlines()
        if line.startswith("applied ")
    ]
    assert printed == steps


def test_github_format_annotates_the_reused_number(write_tree: WriteTree, tmp_path: Path) -> None:
    root, _ = renumbered(write_tree, tmp_path)
    done = run_module(
        "ci.migrate", "--db", "app.db", "--status", "--format", "github", cwd=root, timeout=120
    )
    assert done.returncode == 1
    where = f"file={MIGRATIONS}/schema/0002_add_reviews.sql"
    assert f"::error {where},title=migration number reused::" in done.stdout
    assert "applied migration edited" not in done.stdout
