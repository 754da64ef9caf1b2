"""Errors every layer may raise; the app layer maps them to exit codes."""

from __future__ import annotations


class UsageError(Exception):
    """The check could not run (bad arguments, config, environment): exit 2."""
