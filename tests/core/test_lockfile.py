"""ci.core.lockfile: format, sum, sorting, update never rewriting entries, rehash, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.core import lockfile
from ci.core.model import InputError
from ci.core.sqltext import checksum


def test_default_path_is_a_sibling() -> None:
    assert lockfile.default_path(Path("schema/migrations")) == Path("schema/migrations.lock")
    assert lockfile.default_path(Path("schema/migrations/")) == Path("schema/migrations.lock")
    assert lockfile.default_path(Path("/x/db")) == Path("/x/migrations.lock")


def test_sorted_by_track_then_number() -> None:
    paths = ["seed/0001_a.sql", "data/0002_b.sql", "0003_flat.sql", "schema/0001_c.sql"]
    assert sorted(paths, key=lockfile.sort_key) == [
        "schema/0001_c.sql",
        "data/0002_b.sql",
        "0003_flat.sql",
        "seed/0001_a.sql",
    ]


def test_update_writes_a_summed_lock_and_keeps_entries(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    lock = lockfile.Lock(path)
    added = lockfile.update(lock, {"schema/0001_a.sql": b"CREATE TABLE a (x);\n"})
    assert added == ["schema/0001_a.sql"]
    text = path.read_text()
    first, body = text.split("\n", 1)
    assert first == lockfile.HEADER + lockfile.body_sum(body.splitlines())
    assert body.startswith("schema/0001_a.sql " + checksum(b"CREATE TABLE a (x);\n") + " code:")
    parsed = lockfile.read(path)
    assert parsed is not None and parsed.sum_ok

    # the file changes: --update adds the new one and leaves the old entry alone
    added = lockfile.update(
        parsed, {"schema/0001_a.sql": b"edited\n", "schema/0002_b.sql": b"SELECT 1;\n"}
    )
    assert added == ["schema/0002_b.sql"]
    again = lockfile.read(path)
    assert again is not None and again.sum_ok
    assert again.entries["schema/0001_a.sql"].text == parsed.entries["schema/0001_a.sql"].text


def test_hand_edit_breaks_the_sum(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    lockfile.update(lockfile.Lock(path), {"schema/0001_a.sql": b"x\n"})
    path.write_text(path.read_text().replace("v1:", "v1:0"))
    lock = lockfile.read(path)
    assert lock is not None and not lock.sum_ok


def test_crlf_lock_still_sums(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    lockfile.update(lockfile.Lock(path), {"schema/0001_a.sql": b"x\n"})
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    lock = lockfile.read(path)
    assert lock is not None and lock.sum_ok


def test_conflict_markers_refuse_update(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    path.write_text(
        "<<<<<<< HEAD\n# migration-guard lock v1 sum:aa\n=======\n"
        "# migration-guard lock v1 sum:bb\n>>>>>>> feature\n"
    )
    lock = lockfile.read(path)
    assert lock is not None and lock.conflict_line == 1 and not lock.sum_ok
    with pytest.raises(InputError, match="conflict markers"):
        lockfile.update(lock, {})


def test_malformed_line_is_a_problem(tmp_path: Path) -> None:
    lock = lockfile.parse(tmp_path / "l", lockfile.HEADER + "x\nschema/0001_a.sql nothash\n")
    assert lock.problems and lock.problems[0][0] == 2
    with pytest.raises(InputError, match=":2: not '<path>"):
        lockfile.update(lock, {})


def test_rehash_rewrites_or_removes_one_entry(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    files = {"schema/0001_a.sql": b"a\n", "schema/0002_b.sql": b"b\n"}
    lockfile.update(lockfile.Lock(path), files)
    lock = lockfile.read(path)
    assert lock is not None
    old, new = lockfile.rehash(lock, "schema/0001_a.sql", b"a2\n")
    assert (old, new) == (checksum(b"a\n"), checksum(b"a2\n"))
    lock = lockfile.read(path)
    assert lock is not None and lock.sum_ok
    assert lock.entries["schema/0001_a.sql"].checksum == checksum(b"a2\n")
    assert lockfile.rehash(lock, "schema/0002_b.sql", None) == (checksum(b"b\n"), None)
    lock = lockfile.read(path)
    assert lock is not None and list(lock.entries) == ["schema/0001_a.sql"]


def test_non_utf8_content_has_no_code_fingerprint() -> None:
    assert lockfile.entry_text("schema/0001_a.sql", b"\xff\n") == (
        "schema/0001_a.sql " + checksum(b"\xff\n")
    )


def test_update_refreshes_or_drops_only_the_entries_it_is_told(tmp_path: Path) -> None:
    path = tmp_path / "migrations.lock"
    old = {"schema/0001_a.sql": b"CREATE TABLE a (x);\n", "schema/0002_b.sql": b"SELECT 1;\n"}
    lockfile.update(lockfile.Lock(path), old)
    lock = lockfile.read(path)
    assert lock is not None
    a_line = lock.entries["schema/0001_a.sql"].text
    new = {"schema/0001_a.sql": b"CREATE TABLE a (y);\n", "schema/0003_c.sql": b"SELECT 3;\n"}
    added = lockfile.update(lock, new, refresh={"schema/0002_b.sql"})
    assert added == ["schema/0003_c.sql"]
    lock = lockfile.read(path)
    assert lock is not None and lock.sum_ok
    assert lock.entries["schema/0001_a.sql"].text == a_line  # not refreshed: kept byte for byte
    assert "schema/0002_b.sql" not in lock.entries  # refreshed while gone: dropped
    lockfile.update(lock, new, refresh={"schema/0001_a.sql"})
    lock = lockfile.read(path)
    assert lock is not None
    assert lock.entries["schema/0001_a.sql"].checksum == checksum(new["schema/0001_a.sql"])


def test_every_kind_of_line_is_judged(tmp_path: Path) -> None:
    """Well-formed lines become entries (with and without a code); a second entry for a path,
    a conflict marker that looks like an entry and a malformed line are problems by line."""
    a, b = "v1:" + "a" * 64, "v1:" + "b" * 64
    text = (
        f"{lockfile.HEADER}x\n"
        f"schema/0001_a.sql {a} code:12\n"
        f"schema/0002_b.sql {b}\n"
        f"schema/0001_a.sql {b} code:34\n"
        f">>>>>>>x {a} code:56\n"
        "\n"
        f"schema/0003_c.sql {a} cod:78\n"
    )
    lock = lockfile.parse(tmp_path / "l", text)
    entries = {p: (e.checksum, e.code, e.line) for p, e in lock.entries.items()}
    assert entries == {"schema/0001_a.sql": (a, "12", 2), "schema/0002_b.sql": (b, None, 3)}
    assert [n for n, _ in lock.problems] == [4, 5, 7]
    assert lock.problems[0][1] == "second entry for schema/0001_a.sql"
    assert lock.problems[1][1] == "git conflict marker" and lock.conflict_line == 5
