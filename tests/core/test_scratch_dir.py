"""ci.core.scratch_dir: a private directory under TMPDIR, removed with its files afterwards."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ci.core.scratch_dir import scratch_directory


def test_a_private_directory_under_tmpdir_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with scratch_directory("mg-test-") as made:
        assert made.parent == tmp_path and made.name.startswith("mg-test-")
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
        (made / "x.db").write_bytes(b"data")
        (made / "x.db-journal").write_bytes(b"")
    assert not made.exists()
    assert list(tmp_path.iterdir()) == []


def test_removed_after_an_error_with_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with pytest.raises(RuntimeError), scratch_directory("mg-test-") as made:
        (made / "sub").mkdir()
        (made / "sub" / "f").write_text("x")
        raise RuntimeError("stop")
    assert not made.exists()


def test_two_directories_are_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with scratch_directory("mg-") as one, scratch_directory("mg-") as two:
        assert one != two and one.is_dir() and two.is_dir()


def test_an_unusable_tmpdir_falls_back_to_tempfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing"
    monkeypatch.setenv("TMPDIR", str(missing))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where tempfile's search ends
    with scratch_directory("mg-") as made:
        assert made.parent == tmp_path and made.is_dir()
    assert not made.exists() and not missing.exists()


def test_a_leftover_is_removed_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named like ours and unlocked (its creator is gone): removed, and said. A live one (its
    lock held, here by this process's own open directory), a file named like ours, another
    version's name and another prefix's stay."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    left = tmp_path / "migration-guard-dry-run-0123456789abcdef"
    left.mkdir()
    (left / "dry-run.db").write_bytes(b"copy")
    kept = [
        tmp_path / "migration-guard-0123456789ab",  # an older version's: no lock to ask
        tmp_path / "migration-guard-x0123456789abcdef",
        tmp_path / "mg-0123456789abcdef",
    ]
    for path in kept:
        path.mkdir()
    a_file = tmp_path / "migration-guard-fedcba9876543210"
    a_file.write_text("not a directory")
    with scratch_directory("migration-guard-") as live:
        with scratch_directory("migration-guard-") as made:
            assert live.is_dir() and made.is_dir()
        assert not left.exists()
        assert live.is_dir()
    assert all(path.is_dir() for path in kept) and a_file.is_file()
    err = capsys.readouterr().err
    assert err == f"removed scratch directories left by runs that did not finish: {left}\n"


def test_a_name_whose_lock_is_taken_meanwhile_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between mkdir and the creator's lock a cleaner may find the new directory unlocked
    and take its lock to remove it: the creator then takes another name, never a directory
    being removed."""
    import fcntl
    import os

    from ci.core import scratch_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    taken = tmp_path / "migration-guard-00000000000000aa"
    names = iter([bytes.fromhex("00000000000000aa"), bytes.fromhex("00000000000000bb")])
    made_first = scratch_dir._lock

    def cleaner_first(path: str) -> tuple[bool, int | None]:
        if path == str(taken):  # the cleaner holds it now
            fd = os.open(path, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                return made_first(path)
            finally:
                os.close(fd)
        return made_first(path)

    monkeypatch.setattr(scratch_dir.os, "urandom", lambda n: next(names))
    monkeypatch.setattr(scratch_dir, "_lock", cleaner_first)
    with scratch_directory("migration-guard-") as made:
        assert made.name == "migration-guard-00000000000000bb"
