"""ci.core.statcache on real files: what it records, what it trusts, and that a cache it cannot
use changes nothing but the speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ci.core import statcache
from ci.core.model import SqlFile
from ci.core.sqltext import checksum
from ci.core.statcache import open_cache

OLD = b"CREATE TABLE a (x);\n"
NEW = b"CREATE TABLE b (x);\n"  # the same size


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "migrations"
    (root / "schema").mkdir(parents=True)
    (root / "schema" / "0001_a.sql").write_bytes(OLD)
    return root


@pytest.fixture
def aged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as old enough to cache (the racy window, in the past)."""
    monkeypatch.setattr(statcache, "RACY_NS", -(10**15))


def sql(root: Path) -> SqlFile:
    return SqlFile(str(root / "schema" / "0001_a.sql"))


def cache_lines(root: Path) -> list[str]:
    path = open_cache(root).path
    assert path is not None
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def forge_current_stat(root: Path) -> None:
    """Give the cache entry the file's present stat: what an edit that kept size, mtime AND ctime
    (a system clock set back) would look like to the cache."""
    path = open_cache(root).path
    assert path is not None
    info = os.stat(root / "schema" / "0001_a.sql")
    lines = path.read_text(encoding="utf-8").splitlines()
    name, _key, value = lines[1].split("\t")
    lines[1] = "\t".join((name, statcache._key(info), value))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_old_file_is_recorded_outside_the_folder_and_trusted_by_its_stat(
    folder: Path, aged: None
) -> None:
    cache = open_cache(folder)
    assert cache.checksum(sql(folder)) == checksum(OLD)
    cache.save()
    assert cache.path is not None and not cache.path.is_relative_to(folder)
    assert oct(cache.path.stat().st_mode & 0o777) == oct(0o600)
    assert cache_lines(folder)[1].startswith("schema/0001_a.sql\t")
    (folder / "schema" / "0001_a.sql").write_bytes(NEW)
    forge_current_stat(folder)
    assert open_cache(folder).checksum(sql(folder)) == checksum(OLD)  # trusted, not read
    assert open_cache(folder, verify=True).checksum(sql(folder)) == checksum(NEW)


def test_an_edit_that_sets_mtime_back_changes_the_stat(folder: Path, aged: None) -> None:
    path = folder / "schema" / "0001_a.sql"
    before = path.stat()
    cache = open_cache(folder)
    cache.checksum(sql(folder))
    cache.save()
    path.write_bytes(NEW)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as before
    assert open_cache(folder).checksum(sql(folder)) == checksum(NEW)  # ctime moved


def test_a_file_changed_just_before_the_run_is_not_recorded(folder: Path) -> None:
    cache = open_cache(folder)  # the file was written moments ago: within the racy window
    assert cache.checksum(sql(folder)) == checksum(OLD)
    cache.save()
    assert cache_lines(folder) == []


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "group_writable", "other_folder", "directory", "parent_is_a_file"],
)
def test_a_cache_it_cannot_use_changes_nothing_but_the_speed(
    folder: Path, aged: None, damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_cache(folder)
    first.checksum(sql(folder))
    first.save()
    path = first.path
    assert path is not None
    (folder / "schema" / "0001_a.sql").write_bytes(NEW)
    forge_current_stat(folder)  # a usable cache would now vouch for the old bytes
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not a cache \n")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "group_writable":
        path.chmod(0o664)
    elif damage == "other_folder":
        text = path.read_text(encoding="utf-8").replace(str(folder.resolve()), "/elsewhere")
        path.write_text(text, encoding="utf-8")
    elif damage == "directory":
        path.unlink()
        path.mkdir()
    else:
        blocker = tmp_path / "blocker"
        blocker.write_text("a file where the cache directory should be\n", encoding="utf-8")
        monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cache = open_cache(folder)
    assert cache.checksum(sql(folder)) == checksum(NEW)
    cache.save()  # cannot write, or writes a good one: never raises


def test_turned_off_it_reads_and_writes_nothing(
    folder: Path, aged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(statcache.OFF, "1")
    cache = open_cache(folder)
    assert cache.path is None
    assert cache.checksum(sql(folder)) == checksum(OLD)
    cache.save()
    assert not (folder.parent / "cache").exists()


def test_the_cache_directory_follows_xdg_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert statcache.cache_dir() == tmp_path / "xdg" / "migration-guard"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert statcache.cache_dir() == tmp_path / "home" / ".cache" / "migration-guard"


def test_a_fifo_at_the_cache_path_is_ignored_without_waiting(folder: Path, aged: None) -> None:
    path = open_cache(folder).path
    assert path is not None
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # nobody ever writes to it: a blocking open would wait forever
    script = (
        "import sys; from pathlib import Path; from ci.core.model import SqlFile;"
        "from ci.core.statcache import open_cache;"
        "c = open_cache(Path(sys.argv[1])); print(c.checksum(SqlFile(sys.argv[2]))); c.save()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(folder / "schema" / "0001_a.sql")],
        capture_output=True,
        text=True,
        timeout=30,  # a hang, not a speed: the blocking open never returns
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == checksum(OLD)


@pytest.mark.parametrize("planted", ["symlink", "fifo"])
def test_something_planted_at_the_temporary_path_is_not_written_through(
    folder: Path, aged: None, planted: str, tmp_path: Path
) -> None:
    cache = open_cache(folder)
    assert cache.path is not None
    cache.path.parent.mkdir(parents=True)
    temporary = Path(f"{cache.path}.{os.getpid()}.tmp")
    victim = tmp_path / "victim"
    victim.write_text("not the cache's\n", encoding="utf-8")
    if planted == "symlink":
        temporary.symlink_to(victim)
    else:
        os.mkfifo(temporary)
    cache.checksum(sql(folder))
    cache.save()  # cannot write this time: says nothing, changes nothing
    assert victim.read_text(encoding="utf-8") == "not the cache's\n"
    assert not cache.path.exists()


def test_a_stat_that_does_not_pack_is_never_cached(folder: Path, aged: None) -> None:
    """The key packs device, inode, size, mtime and ctime; a value out of range (a device
    number past 64 bits) gives no key: the file is read and hashed, and nothing is kept."""
    info = os.stat(folder / "schema" / "0001_a.sql")
    assert statcache._key(info) is not None
    fields = {name: getattr(info, name) for name in ("st_ino", "st_size", "st_ctime_ns")}
    odd = SimpleNamespace(st_dev=2**64, st_mtime_ns=info.st_mtime_ns, **fields)
    assert statcache._key(odd) is None  # type: ignore[arg-type]
