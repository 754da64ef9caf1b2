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
