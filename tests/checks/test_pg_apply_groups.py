"""apply_empty on PostgreSQL applies its migrations in grouped transactions on the throwaway
database (ci.db.postgres.check_groups); each of them must still be judged as in a transaction
of its own: its deferred constraints at its end, the session fresh for the next, a label
added by an earlier migration usable, @no-transaction outside any transaction, its failure
named on its file and line with the members before it passing. Run in-process (`main`) so a
small GROUP_LIMIT can put a group's edge between two migrations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci.db.postgres import check_groups
from tests.checks.pg_groups import REWRITES, check
from tests.conftest import MIGRATIONS

pytestmark = pytest.mark.postgresql

TABLES = "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (pid int REFERENCES p (id)\n"
DEFERRED_FK = TABLES + "    DEFERRABLE INITIALLY DEFERRED);\n"


@pytest.fixture(params=[100, 1], ids=["one group", "a group each"])
def group_limit(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(check_groups, "GROUP_LIMIT", request.param)
    return int(request.param)


def test_a_deferred_violation_fails_its_own_migration_and_not_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], group_limit: int
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_tables.sql": DEFERRED_FK,
            # its last line a comment with no newline: the member's end sent after it in one
            # query (check_sent) must not be commented out
            "data/0002_orphan.sql": "INSERT INTO c VALUES (7) -- whose parent comes later",
            "data/0003_parent.sql": "INSERT INTO p VALUES (7);\n",
        },
        capsys,
    )
    assert code == 1, out
    assert f"{MIGRATIONS}/data/0002_orphan.sql: MG301 at commit:" in out, out
    assert "1 passed, 1 failed, 1 skipped" in out, out


def test_a_deferred_constraint_stays_deferred_for_the_next_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], group_limit: int
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_tables.sql": DEFERRED_FK,
            "data/0002_child_first.sql": "INSERT INTO p VALUES (1);\n",
            # the child before its parent: fine while the check is deferred to the end
            "data/0003_both.sql": "INSERT INTO c VALUES (2);\nINSERT INTO p VALUES (2);\n",
        },
        capsys,
    )
    assert code == 0, out


def test_a_label_added_by_one_migration_is_used_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_mood.sql": "CREATE TYPE mood AS ENUM ('sad');\n",
            "schema/0002_label.sql": "ALTER TYPE mood ADD VALUE 'happy';\n",
            "schema/0003_use.sql": "CREATE TABLE t (m mood DEFAULT 'happy');\n",
        },
        capsys,
    )
    assert code == 0, out


def test_a_temp_table_of_one_migration_does_not_shadow_the_next_ones_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], group_limit: int
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_real.sql": "CREATE TABLE t (id int);\n",
            "schema/0002_temp.sql": "CREATE TEMP TABLE t (other text);\nSET work_mem = '8MB';\n",
            "data/0003_uses.sql": (
                "INSERT INTO t (id) VALUES (1);\n"
                "DO $$ BEGIN IF current_setting('work_mem') = '8MB' THEN\n"
                "  RAISE 'the setting of 0002 leaked'; END IF; END $$;\n"
            ),
        },
        capsys,
    )
    assert code == 0, out


def test_a_no_transaction_migration_runs_between_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
            "schema/0002_index.sql": (
                "-- @no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
            ),
            "data/0003_rows.sql": "INSERT INTO t VALUES (1);\n",
        },
        capsys,
    )
    assert code == 0, out


def test_a_failing_statement_sent_with_others_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
            "data/0002_rows.sql": (
                "INSERT INTO t VALUES (1);\n\nINSERT INTO t\n  VALUES ('x');\nSELECT 1;\n"
            ),
        },
        capsys,
    )
    assert code == 1, out
    assert f"{MIGRATIONS}/data/0002_rows.sql:4: MG301 " in out, out  # the server's position
    assert "1 passed" in out, out


def test_dynamic_sql_writing_the_runners_table_is_refused_in_a_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
            "data/0002_sneaky.sql": (
                "DO $$ BEGIN EXECUTE 'DELETE FROM schema_' || 'version'; END $$;\n"
            ),
            "data/0003_rows.sql": "INSERT INTO t VALUES (1);\n",
        },
        capsys,
    )
    assert code == 1, out
    assert "0002_sneaky.sql: MG301 changed the runner's table schema_version" in out, out


@pytest.mark.parametrize("rewrite", sorted(REWRITES))
@pytest.mark.parametrize("sent", [True, False], ids=["sent whole", "member by member"])
def test_a_member_rewriting_an_earlier_members_row_is_refused_as_alone(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    rewrite: str,
    sent: bool,
) -> None:
    if not sent:
        monkeypatch.setattr(check_groups, "apply_sent", lambda *args: None)
    code, out = check(
        tmp_path,
        {
            "schema/0001_a.sql": "CREATE TABLE a (id int);\n",
            "schema/0002_b.sql": "CREATE TABLE b (id int);\n",
            "schema/0003_rewrite.sql": f"DO $$ BEGIN\n{REWRITES[rewrite]}\nEND $$;\n",
        },
        capsys,
    )
    assert code == 1, out
    assert "0003_rewrite.sql: MG301 changed the runner's table schema_version" in out, out
    assert "2 passed, 1 failed" in out, out


def test_a_label_added_by_dynamic_sql_is_still_usable_by_the_next_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_mood.sql": "CREATE TYPE mood AS ENUM ('sad');\n",
            "schema/0002_label.sql": (
                "DO $$ BEGIN EXECUTE 'ALTER TYPE mood ADD VALUE ' || quote_literal('ok'); END $$;\n"
            ),
            "schema/0003_use.sql": "CREATE TABLE t (m mood DEFAULT 'ok');\n",
        },
        capsys,
    )
    assert code == 0, out
    assert "5 passed" in out, out  # three migrations, integrity, version


def test_a_file_refused_before_it_runs_is_named_and_the_ones_before_it_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(
        tmp_path,
        {
            "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
            "schema/0002_meta.sql": "CREATE TABLE u (id int);\n\\i other.sql\n",
            "data/0003_rows.sql": "INSERT INTO t VALUES (1);\n",
        },
        capsys,
    )
    assert code == 1, out
    assert f"{MIGRATIONS}/schema/0002_meta.sql:2: MG301 " in out, out
    assert "1 passed, 1 failed, 1 skipped" in out, out


def test_a_passing_group_is_sent_whole_with_each_members_own_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def member_by_member(*args: object) -> None:
        raise AssertionError("a passing group fell back to the member-by-member way")

    monkeypatch.setattr(check_groups, "_group", member_by_member)
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
        "data/0002_rows.sql": "INSERT INTO t VALUES (1), (2);\nUPDATE t SET id = id + 1;\n",
        # a line comment last, with no newline: what follows it in the member's one query
        # must not be commented out
        "data/0003_one.sql": "DELETE FROM t WHERE id = 2 -- the one updated to 2",
    }
    code, out = check(tmp_path, files, capsys, "--format", "json")
    assert code == 0, out
    cases = {case["name"]: case["rows"] for case in json.loads(out)["checks"][0]["cases"]}
    assert cases["0002 data/0002_rows.sql"] == 4, out  # 2 inserted + 2 updated
    assert cases["0003 data/0003_one.sql"] == 1, out


def test_a_trigger_on_the_runners_table_made_and_dropped_within_a_group_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # gone by the group's end, but it fired on the rows written in between: each member's
    # end looks at the triggers and rules, not only the group's
    code, out = check(
        tmp_path,
        {
            "schema/0001_hook.sql": (
                "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NEW; END $$;\n"
                "DO $$ BEGIN EXECUTE 'CREATE TRIGGER x BEFORE INSERT ON schema_' || 'version '\n"
                "  'FOR EACH ROW EXECUTE FUNCTION f()'; END $$;\n"
            ),
            "schema/0002_t.sql": "CREATE TABLE t (id int);\n",
            "schema/0003_unhook.sql": (
                "DO $$ BEGIN EXECUTE 'DROP TRIGGER x ON schema_' || 'version'; END $$;\n"
            ),
        },
        capsys,
    )
    assert code == 1, out
    assert "0001_hook.sql: MG301 changed the triggers or rules on the runner's tables" in out, out
    assert "1 failed, 2 skipped" in out, out


def test_a_runaway_member_sent_whole_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "schema/0001_t.sql": "CREATE TABLE t (id int);\n",
        "data/0002_slow.sql": "INSERT INTO t VALUES (1);\n\nSELECT pg_sleep(5);\n",
    }
    code, out = check(tmp_path, files, capsys, "--statement-timeout", "0.5")
    assert code == 1, out
    assert f"{MIGRATIONS}/data/0002_slow.sql:3: MG311 " in out, out
    assert "1 passed, 1 failed" in out, out
