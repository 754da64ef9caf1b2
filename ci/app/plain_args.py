"""A command line that needs no parser: `--db app.db --status` and the like, read by a loop.

Building ci.migrate's parser (importing argparse, gettext and locale, then some twenty actions,
each asking gettext for its words) cost about a third of what a `--status` adds to the
interpreter's own start-up, which a performance budget measures (docs/design.md); the lines a
deploy or a status check types are almost always this plain.

Only the plainest lines are read here: every token an option spelled out in full, each value in
the next token and not starting with `-`, every required option given, and no config file. For
anything else (`--help`, a typo, `--db=x`, a value that looks like an option, an option not in
the plain set, a config file to merge) `plain_args` returns None and the command's parser reads
the line as always, with its own messages. tests/app/test_plain_args.py holds the two readings
equal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from types import SimpleNamespace

DEFAULT_CONFIG = "migration-guard.yaml"  # ci.app.config's: a config file found here is parsed


def plain_args(
    argv: Sequence[str] | None,
    *,
    flags: Mapping[str, str],
    values: Mapping[str, tuple[str, Callable[[str], object]]],
    defaults: Mapping[str, object],
    required: Collection[str],
) -> SimpleNamespace | None:
    """The options of a plain command line, as the command's parser would give them; None
    when the line (or a config file) needs the parser. `flags`: option -> dest of a store-true
    option; `values`: option -> (dest, type) of an option that takes one value; `defaults`:
    every dest's default, as parsed; `required`: the dests that must be given."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    if os.path.isfile(DEFAULT_CONFIG):
        return None
    found = dict(defaults)
    given: set[str] = set()
    at = 0
    while at < len(tokens):
        token = tokens[at]
        if token in flags:
            found[flags[token]] = True
            at += 1
            continue
        if token not in values or at + 1 == len(tokens) or tokens[at + 1].startswith("-"):
            return None
        dest, kind = values[token]
        found[dest] = kind(tokens[at + 1])
        given.add(dest)
        at += 2
    if not given.issuperset(required):
        return None
    return SimpleNamespace(**found, set_in_config={})
