"""ci.db.progress: the bar on a terminal, the plain line in a CI log, and the summary at the end.

The module's clock is moved by hand (Progress reads `time.monotonic`), so every line is exact.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from ci.db import progress
from ci.db.progress import Progress


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=fake))  # this module only
    return fake


def test_a_log_gets_a_plain_line_once_the_interval_has_passed(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(out, "0005 backfill", 1000, interval=5.0, tty=False)
    clock.now += 1
    bar.update(100)
    assert out.getvalue() == ""  # before the interval: nothing
    clock.now += 4
    bar.update(150)
    assert out.getvalue() == (
        "0005 backfill: 250/1,000 rows (25%), 50 rows/s, ETA 0:15\n"  # 750 rows at 50 rows/s
    )
    clock.now += 1
    bar.update(10)
    assert out.getvalue().count("\n") == 1  # the interval starts again at the last line


def test_a_terminal_gets_a_bar_redrawn_in_place(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(out, "0005 backfill", 200, tty=True)
    clock.now += 1
    bar.update(50)
    assert out.getvalue() == (
        "\r0005 backfill [#######-----------------------] "
        "50/200 rows (25%), 50 rows/s, ETA 0:03\x1b[K"
    )


def test_without_a_total_the_line_says_rows_and_rate_only(clock: Clock) -> None:
    bar = Progress(io.StringIO(), "0007 purge", None, tty=True)
    clock.now += 2
    bar.done = 3000
    assert bar.line(clock.now) == "0007 purge: 3,000 rows, 1,500 rows/s"


def test_more_rows_than_the_total_stay_at_100_percent_and_eta_zero(clock: Clock) -> None:
    bar = Progress(io.StringIO(), "x", 10, tty=False)
    clock.now += 1
    bar.done = 15
    assert bar.line(clock.now) == "x: 15/10 rows (100%), 15 rows/s, ETA 0:00"


def test_nothing_done_yet_has_an_unknown_eta(clock: Clock) -> None:
    bar = Progress(io.StringIO(), "x", 10, tty=False)
    clock.now += 1
    assert bar.line(clock.now) == "x: 0/10 rows (0%), 0 rows/s, ETA ?"
    assert bar.rate(bar.started) == 0.0  # no time has passed: no division by zero


def test_long_etas_have_hours(clock: Clock) -> None:
    bar = Progress(io.StringIO(), "x", 7201, tty=False)
    clock.now += 1
    bar.done = 1
    assert bar.line(clock.now).endswith("ETA 2:00:00")


def test_a_short_run_in_a_log_prints_no_summary(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(out, "x", 10, interval=5.0, tty=False)
    bar.update(10)
    clock.now += 4.9
    bar.finish()
    assert out.getvalue() == ""


def test_a_long_run_in_a_log_ends_with_a_summary(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(out, "0005 backfill", None, interval=5.0, tty=False)
    bar.done = 12000
    clock.now += 6
    bar.finish()
    assert out.getvalue() == "0005 backfill: 12,000 rows in 6.0 s (2,000 rows/s)\n"


def test_a_terminal_always_ends_its_bar_with_the_summary_line(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(out, "x", 10, tty=True)
    bar.done = 10
    clock.now += 0.5
    bar.finish()
    assert out.getvalue() == "\rx: 10 rows in 0.5 s (20 rows/s)\x1b[K\n"


def test_tty_is_asked_of_the_stream_when_not_given() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Closed(io.StringIO):
        def isatty(self) -> bool:
            raise ValueError("I/O operation on closed file")

    assert Progress(Terminal(), "x", None).tty is True
    assert Progress(io.StringIO(), "x", None).tty is False
    assert Progress(Closed(), "x", None).tty is False  # a closed stream is no terminal
