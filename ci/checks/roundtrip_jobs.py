"""Splitting `ci.rollback_roundtrip`'s run on the empty database across processes (`--jobs`).

Migration k is round-tripped on the database that migrations 1..k-1 made. A helper process
therefore starts from its own empty database, applies the migrations before its share plainly
(no fingerprints, no rollback: about a seventh of the cost of round-tripping them), and
round-trips its share. The shares are cut so that each costs about the same: a round trip costs
more the larger the schema before it (SQLite re-reads the whole schema on every `ALTER TABLE`),
so migration i weighs i + 1, and with two jobs the first share is about the first 70%.

A part is `(until, selected)`: round-trip the migrations in `selected` among the first `until`
(None: all), apply the others plainly. This module knows nothing of fingerprints; it plans the
parts and runs all but the first in helper processes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ci.core.errors import UsageError
from ci.core.model import Migration

if TYPE_CHECKING:
    from concurrent.futures import Future

MAX_DEFAULT_JOBS = 4
# a helper process costs ~0.1 s to start and to apply what comes before its share: below this
# many round trips per part, one process is faster
MIN_PER_PART = 50

Result = TypeVar("Result")


class Part(NamedTuple):
    until: int | None  # round-trip or apply only the first `until` migrations (None: all)
    selected: frozenset[int] | None  # versions to round-trip (None: every one)


def default_jobs() -> int:
    """The CPUs this process may use, at most MAX_DEFAULT_JOBS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_JOBS, usable))


def plan(
    migrations: Sequence[Migration],
    selected: set[int] | None,
    jobs: int,
    *,
    min_per_part: int = MIN_PER_PART,
) -> list[Part]:
    """The parts, in order; one part (everything, as selected) when splitting does not pay."""
    chosen = [
        index for index, m in enumerate(migrations) if selected is None or m.version in selected
    ]
    count = max(1, min(jobs, len(chosen) // max(1, min_per_part)))
    if count == 1:
        return [Part(None, None if selected is None else frozenset(selected))]
    total = sum(index + 1 for index in chosen)
    parts: list[Part] = []
    share: list[int] = []
    weight = 0
    for index in chosen:
        share.append(index)
        weight += index + 1
        if weight >= total * (len(parts) + 1) / count and len(parts) < count - 1:
            parts.append(_part(migrations, share))
            share = []
    if share:
        parts.append(_part(migrations, share))
    return parts


def _part(migrations: Sequence[Migration], share: list[int]) -> Part:
    return Part(share[-1] + 1, frozenset(migrations[index].version for index in share))


def run_parts(parts: Sequence[Part], work: Callable[[int, Part], Result]) -> list[Result]:
    """`work(n, part)` for every part: the first here, the others in helper processes started
    before it (so no SQLite connection of this process is open when they fork)."""
    first, *rest = parts
    if not rest:
        return [work(0, first)]
    # imported only here: concurrent.futures and multiprocessing are ~13 ms of start-up that a
    # run in one process (every small one, every hook run on a short history) never needs
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    sys.stdout.flush()  # a forked helper flushes its copy of anything still buffered here
    sys.stderr.flush()
    with ProcessPoolExecutor(max_workers=len(rest)) as pool:
        helpers: list[Future[Result]] = [
            pool.submit(work, n, part) for n, part in enumerate(rest, 1)
        ]
        results = [work(0, first)]
        try:
            results += [helper.result() for helper in helpers]
        except BrokenProcessPool:
            raise UsageError(
                "a helper process stopped before it finished; run with --jobs 1 to see why"
            ) from None
    return results
