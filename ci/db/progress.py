"""Progress of a long `@batch` migration: a bar on a terminal, a plain line every few seconds
in a CI log (large data)."""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 30
TTY_REFRESH = 0.1  # seconds between redraws of the bar


class Progress:
    """Rows done against an optional total, with rate and ETA."""

    def __init__(
        self,
        out: TextIO,
        label: str,
        total: int | None,
        *,
        interval: float = 5.0,
        tty: bool | None = None,
    ) -> None:
        self.out = out
        self.label = label
        self.total = total
        self.interval = interval
        self.tty = _isatty(out) if tty is None else tty
        self.done = 0
        self.started = time.monotonic()
        self._last = self.started

    def update(self, rows: int) -> None:
        """Count `rows` more; print when the terminal or log interval has passed."""
        self.done += rows
        now = time.monotonic()
        if now - self._last < (TTY_REFRESH if self.tty else self.interval):
            return
        self._last = now
        if self.tty:
            self.out.write("\r" + self.line(now) + "\x1b[K")
            self.out.flush()
        else:
            print(self.line(now), file=self.out, flush=True)

    def finish(self) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        summary = (
            f"{self.label}: {self.done:,} rows in {elapsed:.1f} s ({self.rate(now):,.0f} rows/s)"
        )
        if self.tty:
            self.out.write("\r" + summary + "\x1b[K\n")
            self.out.flush()
        elif elapsed >= self.interval:  # short runs print nothing; the outcome line says enough
            print(summary, file=self.out, flush=True)

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        rate = self.rate(now)
        if not self.total:
            return f"{self.label}: {self.done:,} rows, {rate:,.0f} rows/s"
        fraction = min(self.done / self.total, 1.0)
        remaining = max(self.total - self.done, 0)
        eta = _duration(remaining / rate) if rate > 0 else "?"
        counts = (
            f"{self.done:,}/{self.total:,} rows ({fraction:.0%}), {rate:,.0f} rows/s, ETA {eta}"
        )
        if not self.tty:
            return f"{self.label}: {counts}"
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {counts}"


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
