"""The numbers the integration branch has that this branch does not have yet: what a gap
(MG102) is, most of the time, right after `git fetch`.

A branch made before `origin/main` got 0005, whose new file `ci.new` numbered 0006 (above
origin/main's highest), shows the gap 0004 -> 0006 until origin/main comes in. Renaming the new
file to 0005, as a gap's usual advice says, is wrong there: 0005 is taken on origin/main, and
the push check then asks for 0006 again. So when the missing numbers are on the integration
branch's tip (`--base-ref`, else the branch the checks find: origin/HEAD, origin/main, ...),
the advice is to bring that branch in, which closes the gap. git is asked only when there is a
gap, and once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ci.core.model.layout import MAIN_FOLDERS, SEED_FOLDER, parse_name, track_of

# (the ref, {track: the numbers at its tip that the merge base with it does not have}); None
# when git cannot tell
Upstream = tuple[str, dict[str, set[int]]]


def upstream_numbers(migrations_dir: Path, base_ref: str | None) -> Callable[[], Upstream | None]:
    """A function that tells, the first time it is asked, which numbers the integration
    branch's tip has in each track that this branch has not merged (later: the same answer).
    A number at the merge base that this tree lacks was deleted here: not this case."""
    found: list[Upstream | None] = []

    def ask() -> Upstream | None:
        if not found:
            found.append(_numbers_at_tip(migrations_dir, base_ref))
        return found[0]

    return ask


def _numbers_at_tip(migrations_dir: Path, base_ref: str | None) -> Upstream | None:
    from ci.core import gitrefs

    try:
        ref = base_ref or gitrefs.target_branch(migrations_dir)
        if ref is None:
            return None
        tip = _numbers(gitrefs.list_files(ref, migrations_dir))
        base = _numbers(gitrefs.list_base_files(ref, migrations_dir))
    except gitrefs.RefError:
        return None
    return ref, {track: tip[track] - base[track] for track in tip}


def _numbers(files: Iterable[str]) -> dict[str, set[int]]:
    numbers: dict[str, set[int]] = {"main": set(), "seed": set()}
    for path in files:
        folder, _, name = path.rpartition("/")
        parsed = parse_name(name)
        if parsed is not None and folder in (*MAIN_FOLDERS, SEED_FOLDER):
            numbers[track_of(folder)].add(parsed[0])
    return numbers


def bring_in_hint(upstream: Upstream | None, track: str, missing: range) -> str | None:
    """The advice for a gap whose numbers are on the integration branch; None otherwise."""
    if upstream is None:
        return None
    ref, numbers = upstream
    if not all(number in numbers[track] for number in missing):
        return None  # bringing it in would leave a gap still: the usual advice
    return (
        f"the missing number is on {ref}, which this branch does not have yet: bring it in "
        f"(`git merge {ref}` or `git rebase {ref}`), which closes the gap; do not renumber"
    )
