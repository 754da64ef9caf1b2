"""Running a command as a program: a reader that leaves early (`... | head -1`) is not an error;
a stdout that cannot be written (a full disk) is one line and exit 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ci.app.exits import COULD_NOT_RUN, FINDINGS

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any


def run_program(main: Callable[[], int]) -> int:
    """Run a command's `main` as a program (`python -m ci.<command>`, the console scripts).

    A reader that leaves early (`... | head -1`) is not an error: what is still written to
    stdout or stderr goes nowhere, the command finishes its work (a migration is not stopped
    halfway because nobody reads its log) and exits with its own result; no traceback.
    A stdout that fails otherwise (ENOSPC, EIO) is dropped the same way, so the work is still
    finished whole; then one line says the report is missing and the exit code is 2.
    """
    reader_may_leave()
    return _with_report_said(main())


def _with_report_said(code: int) -> int:
    """`code`, or 2 (could not run) with one line on stderr when stdout lost the report."""
    stdout = sys.stdout
    if not isinstance(stdout, _ReaderMayLeave):
        return code
    stdout.flush()  # what is still buffered: a full disk says so only now
    if stdout.lost is None:
        return code
    reason = stdout.lost.strerror or stdout.lost
    print(f"error: could not write the report to stdout: {reason}", file=sys.stderr)
    return COULD_NOT_RUN if code in (0, FINDINGS) else code  # an interruption (130) stays one


def reader_may_leave() -> None:
    """Make stdout and stderr drop what a closed pipe cannot take (see `run_program`);
    the console scripts call it first thing."""
    if not isinstance(sys.stdout, _ReaderMayLeave):
        sys.stdout = _ReaderMayLeave(sys.stdout)
    if not isinstance(sys.stderr, _ReaderMayLeave):
        sys.stderr = _ReaderMayLeave(sys.stderr)


class _ReaderMayLeave:
    """A text stream whose writes into a closed pipe are dropped: the first broken write points
    the file descriptor at /dev/null, so the interpreter's last flush does not fail either."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.lost: OSError | None = None  # why the output was dropped, other than a reader left

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._reader_left()
        except OSError as error:
            self._failed(error)
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_left()
        except OSError as error:
            self._failed(error)

    def _failed(self, error: OSError) -> None:
        if self.lost is None:
            self.lost = error
        self._reader_left()

    def _reader_left(self) -> None:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
