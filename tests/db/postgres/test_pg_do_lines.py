"""An error raised while a DO block's body runs names the file's line that failed, not the
line of `DO` (the server gives no error position for it: ci.db.postgres.do_line): in the real
run, its dry run and apply_empty (sent whole and member by member)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ci.db.postgres.do_line import do_body_line
from tests.checks.engines import run_check
from tests.checks.engines import write as write_tree
from tests.checks.pg_groups import check, sent
from tests.conftest import output
from tests.db.postgres.pgrun import migrate, write

__all__ = ["sent"]  # the fixture, used by name

TABLE = "CREATE TABLE t (id int);\n"
# (body of 0002, the line that fails)
BLOCKS = {
    "dollar quoted, comment before": (
        "-- fills t\nDO $$\nBEGIN\n  INSERT INTO t VALUES (1);\n"
        "  INSERT INTO t VALUES ('x');\nEND\n$$;\n",
        5,
    ),
    "tagged, language first, body on the DO line": (
        "DO LANGUAGE plpgsql $body$ BEGIN\n  PERFORM 1;\n"
        "  RAISE EXCEPTION 'stop here';\nEND $body$;\n",
        3,
    ),
    "single quoted": ("\n\nDO '\nBEGIN\n  INSERT INTO t VALUES (1 / 0);\nEND';\n", 5),
    "the language named first, as a string": (
        "DO LANGUAGE 'plpgsql'\n$$\nBEGIN\n  PERFORM 1;\n  RAISE EXCEPTION 'boom';\nEND $$;\n",
        5,
    ),
    # an escape string's \n makes the server count a line the file does not have: the DO's line
    # a string continued on the next line is one string, the newline between dropped
    "continued string": ("DO 'BEGIN\n  PERFORM 1;'\n'  RAISE EXCEPTION ''boom''; END';\n", 1),
    "escape string": ("DO E'BEGIN\\n  PERFORM 1;\\n  RAISE EXCEPTION ''boom'';\\nEND';\n", 1),
    "after other statements, error in a called function": (
        "CREATE FUNCTION boom() RETURNS void LANGUAGE plpgsql AS $f$\nBEGIN\n"
        "  RAISE EXCEPTION 'boom';\nEND $f$;\n"
        "DO $$\nBEGIN\n  PERFORM 1;\n  PERFORM boom();\nEND $$;\n",
        8,
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_the_runner_and_its_dry_run_name_the_line_in_the_block(
    name: str, tmp_path: Path, pg_database_url: str, capsys: Any
) -> None:
    body, line = BLOCKS[name]
    migrations = write(tmp_path, {"schema/0001_t.sql": TABLE, "schema/0002_do.sql": body})
    failing = migrations / "schema/0002_do.sql"
    for extra in (["--dry-run"], []):
        code, out, err = migrate(capsys, pg_database_url, migrations, *extra)
        assert code == 1, err
        assert f"{failing}:{line}: " in out + err, (extra, out, err)  # the dry run: stdout


@pytest.mark.parametrize("name", list(BLOCKS))
def test_apply_empty_names_the_line_in_the_block(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], sent: bool
) -> None:
    body, line = BLOCKS[name]
    code, out = check(tmp_path, {"schema/0001_t.sql": TABLE, "schema/0002_do.sql": body}, capsys)
    assert code == 1
    assert f"0002_do.sql:{line}: MG301" in out, out


def test_a_sample_fixture_names_the_line_in_its_block(tmp_path: Path) -> None:
    root = write_tree(tmp_path, "postgresql", {})
    (root / "sample.sql").write_text(
        "-- @sample-version 2\n\nDO $$\nBEGIN\n  INSERT INTO patients (mrn) VALUES ('A');\n"
        "  INSERT INTO patients (mrn) VALUES ('A');\nEND $$;\n",
        encoding="utf-8",
    )
    done = run_check("ci.apply_sample", root, "postgresql", "--sample", str(root / "sample.sql"))
    assert done.returncode == 1, output(done)
    assert "sample.sql:6: MG309 " in done.stdout, output(done)


def test_a_block_whose_context_is_not_its_own_keeps_the_statement_line() -> None:
    context = "PL/pgSQL function inline_code_block line 2 at SQL statement"
    assert do_body_line(context, "SELECT 1") is None  # not a DO statement
    assert do_body_line(None, "DO $$ BEGIN END $$") is None
    assert do_body_line('SQL function "f" statement 1', "DO $$ BEGIN END $$") is None
    # a DO run by the block's own EXECUTE is listed first: the outer block's line counts
    nested = "PL/pgSQL function inline_code_block line 1 at RAISE\n" + context
    assert do_body_line(nested, "DO $$\nBEGIN\nEXECUTE 'DO ...';\nEND $$") == 2
