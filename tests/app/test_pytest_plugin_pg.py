"""The fixtures `migrated_db` and `migration_runner` for a project whose config says `engine:
postgresql`, in real pytest processes on a copy of the worked PostgreSQL example
(`examples/postgresql`).

One pytest session runs the application tests below (INNER) once per module; each outer test
judges one of them from its outcome. Every database an inner test gets, and the session's
templates, are written to `made.txt`, so the outer tests can ask the server whether they are
gone afterwards. The tests that need the server ask for `pg_server_url` (tests/pg.py: skipped
without one, failing under CI=true); the ones about a missing server run anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "postgresql"
RESULT = re.compile(r"^(PASSED|FAILED|ERROR) \S+::(\w+)", re.MULTILINE)
SERVER_ENV = "MIGRATION_GUARD_SERVER_URL"
GONE_WITHIN = 60.0  # seconds: the fixtures hand their DROPs to the server (throwaway.py)

CONFTEST = '''
from pathlib import Path
from urllib.parse import urlsplit

import pytest

MADE = Path(__file__).parent.parent / "made.txt"


def record(url):
    """Write down a database the fixtures made: the outer test checks it is dropped."""
    with MADE.open("a", encoding="utf-8") as made:
        made.write(urlsplit(url).path.lstrip("/") + "\\n")
    return url
'''

INNER = """
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from ci.app.pytest_databases import MigrationError
from conftest import record

SAMPLE = "migrations_sample.sql"  # relative to the rootdir, as a user writes it
DEVICES = (
    "INSERT INTO devices (serial_number, model, device_label, installed_at) VALUES "
    "('SN-1', 'M-100', NULL, now()), ('SN-2', 'M-100', 'Bed 4', now())"
)


def rows(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_head_has_the_seeds(migrated_db):
    url = record(migrated_db())
    assert url.startswith("postgresql://")
    recorded = rows(url, "SELECT migration_type, version, applied_by FROM schema_version")
    assert sorted(v for kind, v, _ in recorded if kind != "seed") == list(range(1, 9))
    assert sorted(v for kind, v, _ in recorded if kind == "seed") == [1, 2]
    assert {by for _, _, by in recorded} == {"migration-guard 0.1.0"}  # the runner's rows
    assert rows(url, "SELECT COUNT(*) FROM settings") == [(5,)]


def test_below_the_head_no_seeds(migrated_db):
    url = record(migrated_db(version=3))
    assert rows(url, "SELECT MAX(version), COUNT(*) FROM schema_version") == [(3, 3)]
    assert rows(url, "SELECT COUNT(*) FROM settings") == [(0,)]
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'patients'"
    assert ("emergency_contact",) not in rows(url, columns)  # 0004 adds it


def test_each_call_a_fresh_copy(migrated_db):
    first = record(migrated_db(version=5, sample=SAMPLE))
    second = record(migrated_db(version=5, sample=SAMPLE))
    assert first != second
    with psycopg.connect(first) as conn:
        conn.execute("DELETE FROM vitals")
    assert rows(first, "SELECT COUNT(*) FROM vitals") == [(0,)]
    assert rows(second, "SELECT COUNT(*) FROM vitals") != [(0,)]
    # the sample is at version 5: 0006 has not copied the MRNs onto the vitals yet
    assert rows(second, "SELECT COUNT(*) FROM vitals WHERE patient_mrn IS NOT NULL") == [(0,)]


def test_the_sample_at_the_head(migrated_db):
    url = record(migrated_db(sample=SAMPLE))
    missing = rows(url, "SELECT COUNT(*) FROM vitals AS v JOIN patients AS p USING (patient_id) "
                        "WHERE p.mrn IS NOT NULL AND v.patient_mrn IS NULL")
    assert missing == [(0,)]
    assert rows(url, "SELECT COUNT(*) FROM devices WHERE device_label IS NULL") == [(0,)]
    assert rows(url, "SELECT MAX(version) FROM schema_version") == [(8,)]


def test_a_sample_above_the_version_is_one_line(migrated_db):
    assert record(migrated_db(version=5, sample=SAMPLE)).startswith("postgresql://")
    with pytest.raises(MigrationError, match=r"migrations_sample\\.sql:1: .*@sample-version 5"):
        migrated_db(version=2, sample=SAMPLE)


def test_a_pg_dump_archive_as_sample(migrated_db, tmp_path):
    if shutil.which("pg_dump") is None:
        pytest.skip("no pg_dump")
    at_five = record(migrated_db(version=5, sample=SAMPLE))
    archive = tmp_path / "sample.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(archive), at_five], check=True)
    url = record(migrated_db(sample=archive))  # an absolute path is used as it is
    assert rows(url, "SELECT MAX(version) FROM schema_version") == [(8,)]
    assert rows(url, "SELECT COUNT(*) FROM devices WHERE device_label IS NULL") == [(0,)]


def test_0008_backfills_only_the_missing_labels_and_its_rollback_only_those(migration_runner):
    record(migration_runner.url)
    assert migration_runner.version == 0
    assert migration_runner.up_to(7) == 7
    conn = migration_runner.connect()
    assert conn.execute("SELECT COUNT(*) FROM settings").fetchall() == [(0,)]  # not the head
    conn.execute(DEVICES)
    assert migration_runner.up_to(8) == 8
    labels = "SELECT device_id, device_label, label_source FROM devices ORDER BY 1"
    assert conn.execute(labels).fetchall() == [(1, "DEVICE-001", "backfill"), (2, "Bed 4", None)]
    assert conn.execute("SELECT COUNT(*) FROM settings").fetchall() == [(5,)]  # 8 is the head
    assert migration_runner.down_to(7) == 7
    assert conn.execute(labels).fetchall() == [(1, None, None), (2, "Bed 4", None)]
    assert migration_runner.version == 7


def test_down_to_zero_undoes_every_migration(migration_runner):
    record(migration_runner.url)
    migration_runner.up_to()
    assert migration_runner.down_to(0) == 0
    public = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    tables = rows(migration_runner.url, public)
    assert sorted(name for (name,) in tables) == ["schema_version", "schema_version_log"]


def test_a_failing_migration_names_its_file_and_line(migration_runner):
    record(migration_runner.url)
    migration_runner.up_to(1)
    migration_runner.connect().execute("CREATE TABLE admission_events (id integer)")
    with pytest.raises(MigrationError) as raised:
        migration_runner.up_to(2)
    assert re.fullmatch(r"\\S*migrations/schema/0002_add_adt\\.sql:\\d+: .*already exists.*",
                        str(raised.value))
    assert migration_runner.version == 1  # the failed migration left nothing behind


def test_a_failing_test_has_its_databases_dropped_too(migrated_db, migration_runner):
    record(migrated_db(version=1))
    record(migration_runner.url)
    migration_runner.connect()  # left open: the drop does not wait for it
    assert False, "fails on purpose"


def test_zz_the_templates(migration_guard_templates):
    for name in migration_guard_templates.names():
        record("postgresql:///" + name)
"""


def project(root: Path) -> Path:
    """The worked PostgreSQL example as a project of its own; no server in its config."""
    shutil.copytree(EXAMPLE / "migrations", root / "migrations")
    shutil.copy(EXAMPLE / "sample" / "sample_data.sql", root / "migrations_sample.sql")
    (root / "migration-guard.yaml").write_text(
        "engine: postgresql\nmigrations_dir: migrations\n", encoding="utf-8"
    )
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return root


def pytest_in(
    root: Path, tests: str, server: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    (root / "tests" / "test_app.py").write_text(tests, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != SERVER_ENV}
    if server is not None:
        env[SERVER_ENV] = server
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "-rA", "tests", *args],
        cwd=root, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def results(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {name: outcome for outcome, name in RESULT.findall(done.stdout)}


def made(root: Path) -> list[str]:
    path = root / "made.txt"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def left(server: str, names: Iterable[str]) -> list[str]:
    """Which of `names` the server still has, once its handed-over drops had time to end."""
    import psycopg

    wanted = sorted(set(names))
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        with psycopg.connect(server, autocommit=True) as conn:
            found = conn.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (wanted,)
            ).fetchall()
        if not found or time.monotonic() > deadline:
            return sorted(str(name) for (name,) in found)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def session(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], Path]:
    root = project(tmp_path_factory.mktemp("pg-fixtures"))
    done = pytest_in(root, INNER, pg_server_url)
    return done, results(done), root


@pytest.mark.parametrize(
    "name",
    [
        "test_head_has_the_seeds",
        "test_below_the_head_no_seeds",
        "test_each_call_a_fresh_copy",
        "test_the_sample_at_the_head",
        "test_a_sample_above_the_version_is_one_line",
        "test_a_pg_dump_archive_as_sample",
        "test_0008_backfills_only_the_missing_labels_and_its_rollback_only_those",
        "test_down_to_zero_undoes_every_migration",
        "test_a_failing_migration_names_its_file_and_line",
        "test_zz_the_templates",
    ],
)
def test_the_application_test_passes(
    session: tuple[subprocess.CompletedProcess[str], dict[str, str], Path], name: str
) -> None:
    done, outcomes, _ = session
    assert outcomes.get(name) == "PASSED", done.stdout[-6000:] + done.stderr[-2000:]


def test_every_database_of_the_session_is_dropped_failed_tests_too(
    session: tuple[subprocess.CompletedProcess[str], dict[str, str], Path], pg_server_url: str
) -> None:
    _, outcomes, root = session
    assert outcomes["test_a_failing_test_has_its_databases_dropped_too"] == "FAILED"
    names = made(root)
    # head, version 3, sample at 5, sample at the head, the archive at the head, version 1
    templates = 6
    assert len(set(names)) == 13 + templates, names
    assert all(re.fullmatch(r"mg_[0-9]{14}_[0-9a-f]{8}", name) for name in names), names
    assert left(pg_server_url, names) == []


def test_no_server_configured_is_one_line_naming_what_to_set(tmp_path: Path) -> None:
    root = project(tmp_path)
    done = pytest_in(root, INNER, None, "-k", "head_has or backfills")
    assert set(results(done).values()) == {"ERROR"}
    errors = re.findall(r"^_+ ERROR at setup of \w+ _+\n(.*?)\n(?==|_)", done.stdout, re.M | re.S)
    assert len(errors) == 2, done.stdout
    for error in errors:
        assert error == (
            "engine: postgresql: migrated_db and migration_runner need a server: set "
            "server_url: in migration-guard.yaml or $MIGRATION_GUARD_SERVER_URL to "
            "postgresql://USER@HOST:PORT/DB of a server where the tests may create and drop "
            "databases"
        )


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "migration-guard.yaml").write_text(
        "engine: postgresql\nmigrations_dir: migrations\n"
        "server_url: postgresql://nobody:secret@127.0.0.1:1/postgres\n",
        encoding="utf-8",
    )
    done = pytest_in(root, INNER, None, "-k", "backfills")
    errors = re.findall(r"^_+ ERROR at setup of \w+ _+\n(.*?)\n(?==|_)", done.stdout, re.M | re.S)
    assert len(errors) == 1, done.stdout
    assert errors[0].startswith(
        "cannot connect to the PostgreSQL server postgresql://nobody@127.0.0.1:1/postgres: "
    )
    assert errors[0].endswith("; set server_url: in migration-guard.yaml or "
                              "$MIGRATION_GUARD_SERVER_URL to postgresql://USER@HOST:PORT/DB of a "
                              "server where the tests may create and drop databases")  # fmt: skip
    assert "secret" not in done.stdout + done.stderr


KILLED = """
import os
import signal

from conftest import record


def test_killed_mid_session(migrated_db, migration_runner, migration_guard_templates):
    record(migrated_db(version=2))
    record(migration_runner.url)
    for name in migration_guard_templates.names():
        record("postgresql:///" + name)
    os.kill(os.getpid(), signal.SIGKILL)
"""

AFTER = """
def test_another_session(migration_runner):
    assert migration_runner.up_to(1) == 1
"""


def test_after_kill_9_the_next_session_drops_the_leftovers(
    tmp_path: Path, pg_server_url: str
) -> None:
    root = project(tmp_path)
    killed = pytest_in(root, KILLED, pg_server_url)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    names = made(root)
    assert len(names) == 3, names
    # (another run on this server may drop them first: either way they must go)
    wait_for_sessions_to_end(pg_server_url, names)
    after = pytest_in(root, AFTER, pg_server_url)
    assert after.returncode == 0, after.stdout + after.stderr
    assert left(pg_server_url, names) == []


def wait_for_sessions_to_end(server: str, names: list[str]) -> None:
    """The killed process's sessions end when the server notices: until then their locks say
    the databases are in use, and the next session rightly leaves them."""
    import psycopg

    from ci.db.postgres.throwaway import LOCK_SPACE, lock_key

    keys = [lock_key(name) for name in names]
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        with psycopg.connect(server, autocommit=True) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)) + "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                "classid = %s::bigint::oid AND objid::bigint = ANY(%s))",
                (names, LOCK_SPACE, keys),
            ).fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.5)


def test_a_sqlite_project_never_loads_psycopg(tmp_path: Path) -> None:
    """The SQLite worked example's fixtures in a real pytest process: what they return is a
    path, as before, and neither psycopg nor the PostgreSQL side of the fixtures is imported."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "schema", root / "schema")
    shutil.copy(REPO / "schema" / "migration-guard.yaml", root / "migration-guard.yaml")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_sessionfinish(session):\n"
        "    wanted = ('psycopg', 'pglast', 'ci.app.pytest_pg')\n"
        "    print('LOADED', sorted(m for m in wanted if m in sys.modules))\n",
        encoding="utf-8",
    )
    tests = (
        "from pathlib import Path\n\n"
        "def test_sqlite(migrated_db, migration_runner):\n"
        "    assert isinstance(migrated_db(version=2), Path)\n"
        "    assert migration_runner.up_to() == 7 and migration_runner.db.is_file()\n"
    )
    done = pytest_in(root, tests, None, "-s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout
