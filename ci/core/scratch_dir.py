"""A private scratch directory, removed with what is in it: what `tempfile.TemporaryDirectory`
gives, without importing tempfile on the common path. tempfile brings shutil, random, bz2, lzma
and weakref: ~15M instructions, ~3 ms of every apply_empty process (a budgeted whole run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_ATTEMPTS = 100  # as tempfile: a name taken by another process is tried again, not an error


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A new directory only this user may enter (mode 0700, a random name, made atomically by
    mkdir), under the directory tempfile would choose when TMPDIR, TEMP or TMP names it (else
    /tmp); removed on leaving, also after an error."""
    path = _make(prefix)
    try:
        yield Path(path)
    finally:
        _remove(path)


def _make(prefix: str) -> str:
    base = next((os.environ[k] for k in ("TMPDIR", "TEMP", "TMP") if os.environ.get(k)), None)
    if base is None and os.name == "posix":
        base = "/tmp"
    if base is not None:
        for _ in range(_ATTEMPTS):
            path = os.path.join(base, prefix + os.urandom(6).hex())
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError:
                break  # not writable, not there: tempfile's own search decides
            return os.path.abspath(path)
    import tempfile

    return tempfile.mkdtemp(prefix=prefix)


def _remove(path: str) -> None:
    """The files SQLite left (the database, a journal) and the directory; anything else (a
    subdirectory) through shutil."""
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                os.unlink(entry.path)
        os.rmdir(path)
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
