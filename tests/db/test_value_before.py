"""ci.db.value_before: the database before a step, copied, and images read afterwards only for
the tables and columns the step wrote, on real SQLite files."""

from __future__ import annotations

from pathlib import Path

from ci.db import runner
from ci.db.fingerprint import Tracker
from ci.db.value_before import Reader, copy_before, written_images

SCHEMA = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT)",
    "CREATE TABLE g (id INTEGER PRIMARY KEY, a INTEGER, twice INTEGER AS (a * 2))",
    "CREATE TABLE quiet (id INTEGER PRIMARY KEY, v TEXT)",
    "INSERT INTO t VALUES (1, 'a1', 'b1', 'c1'), (2, 'a2', 'b2', 'c2')",
    "INSERT INTO g (id, a) VALUES (1, 1)",
    "INSERT INTO quiet VALUES (1, 'x')",
)


def test_images_of_the_copy_hold_only_what_the_step_wrote(tmp_path: Path) -> None:
    conn = runner.connect(tmp_path / "t.db", durable=False)
    for statement in SCHEMA:
        conn.execute(statement)
    tracker = Tracker(conn, content=False)
    printed = tracker.fingerprint
    with copy_before(conn, None) as then:
        with tracker.watch():
            conn.execute("UPDATE t SET b = upper(b)")
            conn.execute("UPDATE g SET a = 5")
            conn.execute("CREATE INDEX quiet_v ON quiet (v)")
        changed, written = tracker.changed, tracker.columns_written
        before = written_images(then, printed, changed, written)
        copy = Path(then.conn.execute("PRAGMA database_list").fetchone()[2])
        assert copy.exists()
    after = written_images(Reader(conn), tracker.now, changed, written)
    assert set(changed) == {"t", "g", "quiet"}
    assert set(before) == set(after) == {"t", "g"}  # no row of quiet was written
    assert before["t"].columns == ("b",)  # the key, and the one column written
    assert dict(before["t"].items()) == {(1,): ("b1",), (2,): ("b2",)}
    assert dict(after["t"].items()) == {(1,): ("B1",), (2,): ("B2",)}
    assert after["g"].columns == ("id", "a", "twice")  # a generated column: all of them
    assert dict(before["g"].items()) == {(1,): (1, 1, 2)}
    assert not copy.exists()  # deleted with the block
    conn.close()
