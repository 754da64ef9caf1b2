"""ci.lint --engine postgresql says each cause once (real squawk, real config files).

Style rules are off unless asked for; the timeout rules say nothing when the runner's config
sets the limit (and are refused in lint's own section, where the runner would not read them);
a rule that breaks on many statements of a file is one finding with a count and the lines;
the lock hazards stay, whatever is turned off.
"""

from __future__ import annotations

import re

import pytest

from ci import lint
from tests.checks.test_lint_postgres_cases import TIMEOUT
from tests.conftest import MIGRATIONS, WriteTree

ONLY_SQUAWK = ["--engine", "postgresql", "--no-sqlfluff"]
MANY = "CREATE TABLE a (id int, n smallint, s varchar(9), c char(2), t timestamp);\n"
LOCKING = "ALTER TABLE t ADD COLUMN c bigint;\nCREATE INDEX i ON t (c);\n"


def _lint(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    *args: str,
    config: str | None = None,
) -> tuple[int, str]:
    tree = {f"{MIGRATIONS}/{name}": sql for name, sql in files.items()}
    if config is not None:
        tree["migration-guard.yaml"] = config
    monkeypatch.chdir(write_tree(tree))
    code = lint.main([*ONLY_SQUAWK, *args, *(f"{MIGRATIONS}/{name}" for name in files)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _codes(out: str) -> list[str]:
    return re.findall(r"^\S+:\d+: (MG7\d\d) ", out, re.M)


def test_style_rules_are_off_unless_included(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"schema/0001_a.sql": MANY}
    code, out = _lint(write_tree, monkeypatch, capsys, files)
    assert code == 0 and _codes(out) == [], out
    _, out = _lint(write_tree, monkeypatch, capsys, files, "--include-rules", "MG718,mg722")
    assert sorted(_codes(out)) == ["MG718", "MG722"], out
    config = "lint:\n  include_rules: [MG719, MG721, MG723]\n"
    _, out = _lint(write_tree, monkeypatch, capsys, files, config=config)
    assert sorted(_codes(out)) == ["MG719", "MG721", "MG723"], out


def test_enum_label_without_position_is_a_style_rule(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"schema/0001_a.sql": TIMEOUT + "ALTER TYPE mood ADD VALUE 'meh';\n"}
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert "MG734" not in out, out
    _, out = _lint(write_tree, monkeypatch, capsys, files, "--include-rules", "MG734")
    assert "MG734 warning: squawk require-enum-value-ordering" in out, out


def test_a_rule_broken_by_many_statements_is_one_finding_with_a_count_and_the_lines(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = TIMEOUT + "".join(f"CREATE INDEX i{n} ON t (c{n});\n" for n in range(13))
    code, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_i.sql": sql})
    assert code == 1
    assert _codes(out).count("MG702") == 1, out
    more = ", ".join(str(line) for line in range(3, 13))
    assert "0001_i.sql:2: MG702 squawk require-concurrent-index-creation: " in out
    assert f"(and 12 more in this file: lines {more}, ...)" in out, out
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_i.sql": TIMEOUT + LOCKING})
    assert "more in this file" not in out  # one statement: squawk's words alone


def test_a_silenced_statement_is_not_counted(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        TIMEOUT
        + "CREATE INDEX i ON t (c); -- noqa: MG702 empty table\n"
        + "CREATE INDEX j ON t (d);\nCREATE INDEX k ON t (e);\n"
    )
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_i.sql": sql})
    assert "0001_i.sql:3: MG702 " in out and "(and 1 more in this file: line 4)" in out, out


def test_timeout_advice_is_once_per_file(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"schema/0001_a.sql": LOCKING * 3, "schema/0002_b.sql": LOCKING}
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    for name in files:
        found = re.findall(rf"{name}:(\d+): (MG709|MG710) ", out)
        assert sorted(code for _, code in found) == ["MG709", "MG710"], out
        assert {line for line, _ in found} == {"1"}, out


@pytest.mark.parametrize(
    ("config", "left"),
    [
        ("migrate:\n  lock_timeout: 5\n  statement_timeout: 600\n", []),
        ("migrate:\n  lock_timeout: 0.5\n", ["MG710"]),
        ("statement_timeout: 300\nmigrate:\n  lock_timeout: 5\n", []),
        (
            "statement_timeout: 300\nmigrate:\n  lock_timeout: 5\n  statement_timeout: 0\n",
            ["MG710"],
        ),
        ("migrate:\n  statement_timeout: 60\n", ["MG709"]),
        ("lock_timeout: 5\nstatement_timeout: 60\n", []),
        ("engine: postgresql\n", ["MG709", "MG710"]),
    ],
    ids=[
        "both",
        "lock-only",
        "top-level-statement",
        "migrate-0-wins",
        "statement-only",
        "top-level-both",
        "none",
    ],
)
def test_no_timeout_advice_for_a_limit_the_runner_sets(
    write_tree: WriteTree,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    left: list[str],
) -> None:
    files = {"schema/0001_a.sql": LOCKING}
    _, out = _lint(write_tree, monkeypatch, capsys, files, config=config)
    codes = _codes(out)
    assert sorted(c for c in codes if c in ("MG709", "MG710")) == left, out
    assert "MG702" in codes  # the lock hazard itself stays


def test_the_runners_limits_are_refused_in_lints_own_section(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ci.migrate never reads lint's section: accepting the key there would hide advice unseen
    config = "lint:\n  lock_timeout: 5\n"
    with pytest.raises(SystemExit) as exited:
        _lint(write_tree, monkeypatch, capsys, {"schema/0001_a.sql": LOCKING}, config=config)
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert "section lint: lock_timeout is ci.migrate's: put it under migrate:" in said, said


def test_every_lock_hazard_stays_when_the_noise_goes(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE INDEX i ON t (c);\n"
        "ALTER TABLE t ALTER COLUMN c SET NOT NULL;\n"
        "ALTER TABLE t ALTER COLUMN d TYPE bigint;\n"
        "ALTER TABLE t ADD CONSTRAINT t_u_fk FOREIGN KEY (u) REFERENCES u (id);\n"
        "ALTER TABLE t DROP COLUMN e;\n"
        "DROP TABLE v;\n"
    )
    config = "migrate:\n  lock_timeout: 5\n  statement_timeout: 600\n"
    code, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_a.sql": sql}, config=config)
    assert code == 1
    assert {"MG702", "MG705", "MG707", "MG703", "MG712", "MG713"} <= set(_codes(out)), out


def test_a_rollback_may_drop_the_default_its_migration_set(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk's ban-drop-default: a code of its own (it was MG799) and a drop rollbacks may do
    drop = TIMEOUT + "ALTER TABLE t ALTER COLUMN c DROP DEFAULT;\n"
    files = {"schema/0002_b.sql": drop, "rollback/0001_rollback.sql": drop}
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert "0002_b.sql:2: MG776 squawk ban-drop-default" in out, out
    assert not re.search(r"0001_rollback.sql:\d+: MG7(76|99) ", out), out


def test_a_constraint_is_one_finding_by_its_most_precise_rule(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk also calls a foreign key or UNIQUE "a constraint without NOT VALID" (MG704): the
    # same cause twice, and UNIQUE cannot be NOT VALID; a CHECK keeps MG704
    sql = (
        TIMEOUT
        + "ALTER TABLE t ADD CONSTRAINT t_u_fk FOREIGN KEY (u) REFERENCES u (id);\n"
        + "ALTER TABLE\n  t\nADD\n  CONSTRAINT t_c_uq UNIQUE (c);\n"
        + "ALTER TABLE t ADD CONSTRAINT t_c_ck CHECK (c > 0);\n"
    )
    _, out = _lint(write_tree, monkeypatch, capsys, {"schema/0001_c.sql": sql})
    found = re.findall(r"0001_c.sql:(\d+): (MG70[34]|MG711) ", out)
    assert sorted(found) == [("2", "MG703"), ("6", "MG711"), ("7", "MG704")], out


def test_the_runners_limits_at_the_top_level_are_known_to_every_check(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ci.migrate reads them there and lint does too: no other check may call them unknown
    from ci import numbering

    root = write_tree(
        {
            "migration-guard.yaml": "lock_timeout: 5\nstatement_timeout: 60\n",
            f"{MIGRATIONS}/schema/0001_a.sql": "SELECT 1;\n",
        }
    )
    monkeypatch.chdir(root)
    code = numbering.main([])
    said = capsys.readouterr()
    assert code != 2 and "unknown key" not in said.err, said  # it ran: the file was read
    assert "numbering:" in said.out or "numbering" in said.out, said


def test_a_rollback_may_rename_back_what_its_migration_renamed(
    write_tree: WriteTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "schema/0001_a.sql": TIMEOUT + "ALTER TABLE t RENAME COLUMN a TO b;\n",
        "rollback/0001_rollback.sql": TIMEOUT + "ALTER TABLE t RENAME COLUMN b TO a;\n",
    }
    _, out = _lint(write_tree, monkeypatch, capsys, files)
    assert "0001_a.sql:2: MG714 squawk renaming-column" in out, out
    assert not re.search(r"0001_rollback.sql:\d+: MG7(14|15|48) ", out), out
