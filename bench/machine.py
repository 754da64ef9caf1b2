"""The machine a bench run measured: what it is and how busy it was, so that a figure from another
machine (or a busy moment) can be read for what it is.

Ratios move between machines of the same kind (the cache, the disk, neighbours on a shared host)
and with load (a ratio of two short processes suffers most when one of them waits for a core).
bench/run.py records this before it measures and again at the end, and flags a run that started
on a busy machine.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

BUSY_LOAD_PER_CORE = 0.5  # the 1-min load per core above which figures are flagged
BUSY_SHARE = 0.10  # a process using at least this share of one core while we sample is busy
SAMPLE_SECONDS = 0.5


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    """The cores this process may use (what `nproc` prints)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """{pid: (command name, user + system clock ticks so far)} for every process we can read."""
    ticks: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        ticks[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def busy_processes(seconds: float = SAMPLE_SECONDS) -> list[tuple[str, float]]:
    """Other processes using at least BUSY_SHARE of a core over a short sample, busiest first:
    (name, share of one core). Empty where /proc cannot be read."""
    if not Path("/proc/self/stat").exists():
        return []
    ours = os.getpid()
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    hertz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, ticks) in after.items():
        if pid == ours or pid not in before:
            continue
        share = (ticks - before[pid][1]) / hertz / seconds
        if share >= BUSY_SHARE:
            busy.append((name, share))
    return sorted(busy, key=lambda item: -item[1])


class Snapshot:
    """How busy the machine was at one moment."""

    def __init__(self, loads: tuple[float, float, float], busy: list[tuple[str, float]]) -> None:
        self.loads = loads
        self.busy = busy

    @classmethod
    def now(cls) -> Snapshot:
        return cls(load(), busy_processes())

    @property
    def load_text(self) -> str:
        return " / ".join(f"{x:.2f}" for x in self.loads)

    @property
    def busy_text(self) -> str:
        if not self.busy:
            return "none"
        top = ", ".join(f"{name} {share:.0%}" for name, share in self.busy[:5])
        return f"{len(self.busy)} ({top} of a core)"

    def overloaded(self) -> bool:
        return self.loads[0] > BUSY_LOAD_PER_CORE * cores()


def load_warning(start: Snapshot) -> str | None:
    """One line saying the figures were taken under load, or None on a quiet machine."""
    if not start.overloaded():
        return None
    return (
        f"the 1-min load at the start was {start.loads[0]:.2f} on {cores()} cores (above "
        f"{BUSY_LOAD_PER_CORE} per core; busy processes: {start.busy_text}): figures taken "
        "under load, ratios of short processes read high; re-run on a quiet machine"
    )
