"""Guarantees that need real processes: two runners at once on one database apply each
migration once. The `kill -9` trials are in test_kill_trials.py, on the corpus and checks of
kill_corpus.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import WriteTree, query, tree
from tests.db.kill_corpus import launch


def start(db: Path, root: Path, *extra: str) -> subprocess.Popen[str]:
    return launch(db, root, "--no-backup", *extra)


def finish(db: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = start(db, root, *extra)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_two_runners_at_once_apply_each_migration_once(
    write_tree: WriteTree, tmp_path: Path
) -> None:
    spec: dict[str, str | bytes] = {
        "schema/0001_hits.sql": "CREATE TABLE hits (version INTEGER);\n",
    }
    for n in range(2, 41):
        spec[f"schema/{n:04d}_m{n}.sql"] = (
            f"CREATE TABLE m{n} (x);\nINSERT INTO hits VALUES ({n});\n"
        )
    root = write_tree(tree(spec))
    for attempt in range(2):
        db = tmp_path / f"shared{attempt}.db"
        first, second = start(db, root), start(db, root)
        results = [p.communicate(timeout=60) for p in (first, second)]
        assert first.returncode == 0, results[0][1]
        assert second.returncode == 0, results[1][1]
        assert query(db, "SELECT count(*), count(DISTINCT version) FROM hits") == [(39, 39)]
        assert query(db, "SELECT count(*), count(DISTINCT version) FROM schema_version") == [
            (40, 40)
        ]
        applies = query(db, "SELECT count(*) FROM schema_version_log WHERE action = 'apply'")
        assert applies == [(40,)]
