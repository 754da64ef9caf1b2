"""The stat cache as `python -m ci.migrate` uses it (--status, a run), with --verify: the verdict
on edited applied files, what the cache may miss, and where it is written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.core import statcache
from ci.core.statcache import open_cache
from ci.migrate import main
from tests.conftest import BASE, MIGRATIONS, tree

WriteTree = Callable[[dict[str, str | bytes]], Path]
EDITED_FILE = "schema/0001_patients.sql"
SAME_SIZE_EDIT = BASE[EDITED_FILE].replace("mrn TEXT", "mrn BLOB")


@pytest.fixture
def applied(
    write_tree: WriteTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A repository whose migrations are applied, and its database; the cache in tmp."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = write_tree(tree(BASE))
    db = tmp_path / "db" / "app.db"
    db.parent.mkdir()
    assert migrate(root, db, "--no-backup") == 0
    return root, db


@pytest.fixture
def aged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as old enough to cache (the racy window, in the past)."""
    monkeypatch.setattr(statcache, "RACY_NS", -(10**15))


def migrate(root: Path, db: Path, *args: str) -> int:
    return main(["--db", str(db), "--migrations-dir", str(root / MIGRATIONS), *args])


def edit(root: Path, text: str, *, keep_mtime: bool = False) -> None:
    path = root / MIGRATIONS / EDITED_FILE
    before = path.stat()
    path.write_text(text, encoding="utf-8")
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def verdicts(
    root: Path, db: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, int, str]:
    """--status (exit, output), then a run (exit, error output)."""
    capsys.readouterr()
    status = migrate(root, db, "--status", *extra)
    shown = capsys.readouterr().out.replace(str(db), "DB")
    run = migrate(root, db, "--no-backup", *extra)
    return status, shown, run, capsys.readouterr().err


def cache_file(root: Path) -> Path:
    path = open_cache(root / MIGRATIONS).path
    assert path is not None
    return path


def forge_current_stat(root: Path) -> None:
    """Give the edited file's cache entry its present stat: what an edit that kept size, mtime
    and ctime (only a system clock set back does) would look like to the cache."""
    path = cache_file(root)
    info = os.stat(root / MIGRATIONS / EDITED_FILE)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=1):  # after the header
        name, _key, value = line.split("\t")
        if name == EDITED_FILE:
            lines[number] = "\t".join((name, statcache._key(info), value))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_edits_that_change_size_or_mtime_are_caught_without_verify(
    applied: tuple[Path, Path], aged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    assert migrate(root, db, "--status") == 0  # the cache now holds every applied file
    assert EDITED_FILE in cache_file(root).read_text(encoding="utf-8")
    edit(root, BASE[EDITED_FILE] + "-- a comment\n")
    status, shown, run, err = verdicts(root, db, capsys)
    assert (status, run) == (1, 1)
    assert f"EDITED: {root / MIGRATIONS / EDITED_FILE}" in shown
    assert "edited after it was applied (only whitespace or comments changed)" in err
    edit(root, SAME_SIZE_EDIT)  # the same size, a new mtime
    status, shown, run, err = verdicts(root, db, capsys)
    assert (status, run) == (1, 1) and "statements changed" in shown + err


def test_an_edit_that_sets_mtime_back_is_caught_by_its_ctime(
    applied: tuple[Path, Path], aged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    assert migrate(root, db, "--status") == 0
    edit(root, SAME_SIZE_EDIT, keep_mtime=True)
    assert verdicts(root, db, capsys)[::2] == (1, 1)
    assert verdicts(root, db, capsys, "--verify")[::2] == (1, 1)


def test_what_the_cache_misses_verify_catches_and_then_the_cache_knows(
    applied: tuple[Path, Path], aged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied
    assert migrate(root, db, "--status") == 0
    edit(root, SAME_SIZE_EDIT)
    forge_current_stat(root)  # the trade-off: a file whose stat did not move is not read
    status, shown, run, _err = verdicts(root, db, capsys)
    assert (status, run) == (0, 0) and "EDITED" not in shown
    status, shown, run, err = verdicts(root, db, capsys, "--verify")
    assert (status, run) == (1, 1) and "EDITED" in shown and "statements changed" in err
    assert verdicts(root, db, capsys)[::2] == (1, 1)  # --verify refreshed the entry


def test_a_same_second_edit_is_caught_and_a_racy_file_never_cached(
    applied: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = applied  # the files were written a moment ago: inside the racy window
    assert migrate(root, db, "--status") == 0
    edit(root, SAME_SIZE_EDIT, keep_mtime=True)
    assert verdicts(root, db, capsys)[::2] == (1, 1)
    assert not cache_file(root).exists() or EDITED_FILE not in cache_file(root).read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("cache", ["used", "off", "garbage", "unwritable"])
def test_verdicts_are_the_same_with_or_without_a_usable_cache(
    applied: tuple[Path, Path],
    aged: None,
    cache: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root, db = applied
    expected_clean = verdicts(root, db, capsys, "--verify")
    edit(root, SAME_SIZE_EDIT)
    expected_edited = verdicts(root, db, capsys, "--verify")
    edit(root, BASE[EDITED_FILE])
    if cache == "off":
        monkeypatch.setenv(statcache.OFF, "1")
    elif cache == "garbage":
        cache_file(root).write_bytes(b"\x00\xff\n")
    elif cache == "unwritable":
        blocker = tmp_path / "blocker"
        blocker.write_text("a file where the cache directory should be\n", encoding="utf-8")
        monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert verdicts(root, db, capsys) == expected_clean
    edit(root, SAME_SIZE_EDIT)
    assert verdicts(root, db, capsys) == expected_edited
    assert expected_edited[::2] == (1, 1)


def test_the_cache_lands_neither_in_the_repository_nor_beside_the_database(
    applied: tuple[Path, Path], aged: None, tmp_path: Path
) -> None:
    root, db = applied
    repository_before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert migrate(root, db, "--status") == 0
    assert migrate(root, db, "--no-backup") == 0
    assert migrate(root, db, "--status", "--verify") == 0
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == repository_before
    assert sorted(p.name for p in db.parent.iterdir()) == ["app.db"]
    assert cache_file(root).is_relative_to(tmp_path / "cache" / "migration-guard")
