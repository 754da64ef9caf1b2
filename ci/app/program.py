"""Running a command as a program: a reader that leaves early (`... | head -1`) is not an error;
a stdout that cannot be written (a full disk) is one line and exit 2, never a traceback."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable

from ci.app.exits import COULD_NOT_RUN, FINDINGS, TERMINATED
from ci.core.extra import POSTGRESQL_EXTRA, missing_extra

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
    A stdout that is closed from the start (`>&-`) is one line and exit 2 before any work: a
    deploy whose every line would be lost must not run.
    """
    if sys.stdout is None:
        return _no_stdout()
    reader_may_leave()
    stop_on_sigterm()
    try:
        result = main()
    except KeyboardInterrupt:
        if not _TERMINATED:
            raise  # Ctrl-C through a command that does not catch it: as before
        print("interrupted (SIGTERM)", file=sys.stderr)
        result = TERMINATED
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in POSTGRESQL_EXTRA:
            raise
        print(f"error: {missing_extra(error.name or '')}", file=sys.stderr)
        result = COULD_NOT_RUN
    try:
        code = _with_report_said(as_terminated(result))
        end_now_if_nothing_left(code)
    except KeyboardInterrupt:  # the work is done and said: a late Ctrl-C changes nothing
        code = as_terminated(result)
    return code


def run_as_process(main: Callable[[], int]) -> int:
    """`run_program(main)` for a command that is this process's program (`python -m ci.x`, a
    console script): once it is done, a Ctrl-C changes nothing. What still runs after it (exit
    handlers, the wait for a helper thread: ~250 ms after a PostgreSQL check) was killed by a
    SIGINT, exit -2 after an OK. Not for a caller that goes on (a test calling `cli`)."""
    code = run_program(main)
    import _signal  # type: ignore[import-not-found]  # see stop_on_sigterm
    from contextlib import suppress

    with suppress(ValueError):  # not the main thread: nothing to install
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    return code


def stop_on_sigterm() -> None:
    """Make SIGTERM (what CI sends on cancel or timeout) stop the command as Ctrl-C does: the
    same KeyboardInterrupt, so every `finally` runs (a scratch directory is removed, a
    throwaway database dropped, a migration's transaction rolled back) and the command says
    `interrupted`; `as_terminated` then makes the exit code 143 (128 + SIGTERM), not 130.
    Without it the process died at once, leaving its scratch directory behind.

    A SIGTERM that the parent ignored (SIG_IGN) or a handler someone else installed is kept;
    outside the main thread no handler can be installed, and none is. `_signal`, not
    `signal`: that module builds its enums at import, ~0.5 ms of every command's start-up."""
    import _signal  # no stub: signal's own C half (see run_as_process)

    try:
        if _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
            _signal.signal(_signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread
        pass


_TERMINATED: list[int] = []  # the SIGTERMs received (a list: no `global` in the handler)


def _terminated(signum: int, frame: object) -> None:
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


def as_terminated(code: int) -> int:
    """`code`, or 143 when a SIGTERM stopped the command (see stop_on_sigterm)."""
    return TERMINATED if _TERMINATED else code


def _no_stdout() -> int:
    """The command does nothing: its report could not be written anywhere."""
    if sys.stderr is not None:
        print("error: stdout is closed, so the report could not be written; nothing was done "
              "(give the command a stdout, e.g. > /dev/null)", file=sys.stderr)  # fmt: skip
    return COULD_NOT_RUN


def end_now_if_nothing_left(code: int) -> None:
    """End the process with `code` now, when the interpreter's own ending has nothing left to
    do but free memory: that teardown (every module and object freed one by one, a last garbage
    collection over them) is ~15M instructions after a start-up on 1,000 migrations, about a
    tenth of a `--status`. What it could still do, and why none of it is lost here:

    - buffered output: stdout and stderr are flushed first (a stream that fails to flush
      leaves the ending to the interpreter, which reports it);
    - exit handlers: any at all (coverage, logging, tempfile's and weakref's finalizers,
      multiprocessing, a caller's own) leave the ending to the interpreter;
    - other threads (the interpreter would wait for them), a tracer or profiler (cProfile,
      a debugger: they report at the end), interactive inspection (`python -i`): the same.

    Files and databases need no teardown: the commands write files through `with` blocks and
    close their connections; a committed SQLite transaction is on disk at its commit, and one
    still open would be rolled back from its journal by the next reader, as after kill -9."""
    if not _nothing_left():
        return
    os._exit(code)


def _nothing_left() -> bool:
    for stream in {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            return False
    handlers = getattr(atexit, "_ncallbacks", None)  # CPython's count of exit handlers
    if handlers is None or handlers() or sys.gettrace() or sys.getprofile():
        return False
    if sys.flags.inspect or os.environ.get("PYTHONINSPECT"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


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
    return COULD_NOT_RUN if code in (0, FINDINGS) else code  # an interruption (130, 143) stays


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
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
