"""Who holds a dirty mark, and whether that process has provably stopped.

A mark records its holder in its applied_by column: "pid N on HOST started T boot B" (T: the
process's start time in clock ticks since boot, B: the kernel's boot id). A pid alone is reused;
a (pid, start time) pair is not until the machine restarts, so only with both can a holder be
proven gone and its mark be taken over by --resume.
"""

from __future__ import annotations

import os

from ci.core.sqltext import LazyPattern
from ci.db.tables import APPLIED_BY

# the holder as written in a mark's applied_by column; marks of earlier versions say only
# "pid N on HOST", and a system without /proc writes that too
OWNER_PATTERN = LazyPattern(  # compiled when a mark is read: not on every start-up
    r"pid (?P<pid>\d+) on (?P<host>\S+)(?: started (?P<start>\d+) boot (?P<boot>[\w-]+))?$"
)
# what DirtyMark.holder() finds about that process
GONE = "gone"  # provably stopped (or it is this very process): the mark may be taken over
ALIVE = "alive"  # still running: never take its mark
UNKNOWN = "unknown"  # cannot be told: a person must check and --force-clean


def holder_of(owner: str | None) -> tuple[str, str]:
    """(GONE, ALIVE or UNKNOWN, why) for the process a mark's `owner` text names.

    GONE only with proof, on this host: no process has its pid, or one has it but started
    at another time (the pid was reused), or the machine has restarted since. Anything
    else (another host, a mark without a start time whose pid is in use, /proc unreadable)
    is UNKNOWN: taking such a mark over could run the migration twice at once.
    """
    match = OWNER_PATTERN.search(owner or "")
    if match is None:
        return UNKNOWN, "the mark does not say which process holds it"
    if match["host"] != _hostname():
        return UNKNOWN, f"it was written on another host, {match['host']}"
    pid, start, boot = int(match["pid"]), match["start"], match["boot"]
    if pid <= 0:
        return UNKNOWN, f"the mark names pid {pid}"
    if boot is not None and boot_id() not in (None, boot):
        return GONE, "the machine has restarted since"
    exists = _pid_exists(pid)
    if exists is None:
        return UNKNOWN, f"cannot tell whether pid {pid} exists"
    if not exists:
        return GONE, f"no process has pid {pid}"
    if start is None:
        # an earlier version's mark, or a system without /proc: the pid may be reused
        return UNKNOWN, f"pid {pid} is in use and the mark records no process start time"
    now = process_start(pid)
    if now is None:
        if _pid_exists(pid) is False:
            return GONE, f"no process has pid {pid}"  # it ended just now
        return UNKNOWN, f"cannot read the start time of pid {pid}"
    if now != int(start):
        return GONE, f"pid {pid} is another process now (it started at another time)"
    if pid == os.getpid():
        return GONE, "this process holds it (an earlier run in it stopped)"
    return ALIVE, f"pid {pid} is still running"


def holder_name(owner: str | None) -> str:
    """The holder in a message: 'process 123 on HOST (migration-guard 1.0)'."""
    match = OWNER_PATTERN.search(owner or "")
    if match is None:
        return repr(owner) if owner else "an unrecorded process"
    tool = (owner or "")[: match.start()].strip()
    return f"process {match['pid']} on {match['host']}" + (f" ({tool})" if tool else "")


def owner() -> str:
    """This process as a mark's holder: pid, host and, where /proc tells, start time and boot."""
    pid = os.getpid()
    text = f"{APPLIED_BY} pid {pid} on {_hostname()}"
    start, boot = process_start(pid), boot_id()
    if start is None or boot is None:
        return text  # only a pid that no longer exists will prove this holder gone
    return f"{text} started {start} boot {boot}"


def _hostname() -> str:
    import socket

    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (Linux /proc/PID/stat, field 22);
    None where that cannot be read. Together with the pid it names one process: a pid is
    reused, a (pid, start time) pair not until the machine restarts."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        # field 2 is the command in parentheses and may itself contain ") "; field 3 follows
        # the last ')', so field 22 is the 20th field after it
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def boot_id() -> str | None:
    """The kernel's id of this boot (Linux), None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as source:
            return source.read().strip() or None
    except OSError:
        return None


def _pid_exists(pid: int) -> bool | None:
    """Whether a process has this pid (None: cannot tell)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    except OSError:
        return None
    return True
