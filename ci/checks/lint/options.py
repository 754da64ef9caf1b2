"""The values of lint's options: rule codes to turn off and the oldest SQLite to support.

Each parser raises argparse's ArgumentTypeError, which argparse turns into exit 2 with the
option's name; the config file's values go through the same functions.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable


def rule_codes(text: str) -> list[str]:
    """`MG510, lt05` -> ["MG510", "LT05"]."""
    codes = [code.strip().upper() for code in text.split(",") if code.strip()]
    bad = [code for code in codes if not re.fullmatch(r"[A-Z]{2,3}\d*", code)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a rule code: {', '.join(bad)}")
    return codes


def excluded_codes(items: Iterable[str | list[str]]) -> frozenset[str]:
    """Every code of `--exclude-rules`: a list per option (config files give a list of lists)."""
    excluded: list[str] = []
    for item in items:
        excluded.extend(item if isinstance(item, list) else rule_codes(item))
    return frozenset(excluded)


def parse_version(text: str) -> tuple[int, int, int]:
    """`3.31` / `3.31.1` -> (3, 31, 0) / (3, 31, 1); argparse turns the error into exit 2."""
    if not re.fullmatch(r"3\.\d+(?:\.\d+)?", text.strip()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a SQLite 3 version like 3.31.1")
    major, minor, *patch = (int(part) for part in text.strip().split("."))
    if minor < 7:  # YAML reads an unquoted 3.40 as the number 3.4
        raise argparse.ArgumentTypeError(
            f"'{text}' is older than SQLite 3.7.0 (in YAML, quote the version: \"3.40\")"
        )
    return (major, minor, patch[0] if patch else 0)
