"""`migration-guard.yaml`: optional, and every key is also a flag.

```yaml
migrations_dir: schema/migrations   # any option of any check, `-` or `_`
sample: schema/sample.sql
checks: [numbering, checksums, lint]
lint:                               # a section named after a check: for that check only
  exclude_rules: [LT05]
```

A key is the option's name without the dashes (`--base-ref` -> `base_ref` or `base-ref`). Flags
on the command line win over the file; a check's section wins over the top level. A key that no
check knows is an error naming it (a typo must not silently switch a check off). A key that
removes, rewrites or skips a safety (`COMMAND_LINE_ONLY`) is an error too: those are flags only.
pyyaml is imported only when a config file exists.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from ci.app.plain_args import DEFAULT_CONFIG as DEFAULT_CONFIG  # its home: plain_args needs it

TYPE_CHECKING = False  # not typing's own: importing typing costs ~4% of a --status start-up
if TYPE_CHECKING:
    from typing import Any

NOT_KEYS = frozenset({"files", "config", "help", "version"})


# Options that remove, rewrite or skip a safety, each with what it would do. The config file is
# read by every run of the deploy command (`python -m ci.migrate --db prod.db`) and of CI, so one
# line there would do it on every run, unseen: `rollback: 1` with `no_backup: true` once rolled
# back a whole database without a backup. Every command refuses such a key in the file, at the
# top level or in a check's section, unless it says `false`; add each new such option here.
COMMAND_LINE_ONLY: dict[str, str] = {
    "rollback": "rolls back applied migrations",
    "target": "holds every deploy at a fixed version, short of the head",
    "no_backup": "skips the backup taken before the database changes",
    "force_clean": "clears the dirty mark of a half-applied migration",
    "resume": "runs a half-applied migration again",
    "allow_changed": "applies over edits to already-applied migration files",
    "update": "rewrites the lock file",
    "rehash": "rewrites an entry of the lock file, or applied migrations' recorded checksums",
    "write_snapshot": "rewrites the schema snapshot",
    # the stats apply_sample's lock budget is measured against: rewritten from whatever
    # database a run is pointed at, they would move the budget unseen
    "export_stats": "rewrites the production stats file",
    "baseline": "records migrations as applied without running them",
    "force": "records a baseline although the database differs from the migrations",
    # a deploy that quietly changes nothing and exits 0 is a deploy skipped
    "dry_run": "turns every deploy into a rehearsal that changes nothing",
    "status": "turns every deploy into a status report that changes nothing",
}


class ConfigError(Exception):
    """The config file cannot be used; the message is one line naming the file (and line)."""


def dest(key: str) -> str:
    return key.replace("-", "_")


def config_path(argv: Sequence[str]) -> Path | None:
    """`--config FILE` from the command line, else `migration-guard.yaml` when it exists."""
    explicit = explicit_path(argv)
    if explicit is not None:
        return explicit
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def explicit_path(argv: Sequence[str]) -> Path | None:
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if token.startswith("--config="):
            return Path(token.split("=", 1)[1])
    return None


def load(path: Path) -> Mapping[str, Any]:
    """The file's top-level mapping, keys normalised to option dests."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror}") from None
    return _parsed(path, data)


@lru_cache(maxsize=8)  # `python -m ci` reads the same file once per check
def _parsed(path: Path, data: bytes) -> Mapping[str, Any]:
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    return _normalised(data, path, "")


def _normalised(data: Mapping[Any, Any], path: Path, section: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"{path}: {section}key {shown(key)} is not an option name")
        if isinstance(value, dict):
            if section:
                raise ConfigError(f"{path}: {section}{key}: sections cannot be nested")
            value = _normalised(value, path, f"{dest(key)}.")
        result[dest(key)] = value
    return result


def parser_values(
    parser: argparse.ArgumentParser,
    check: str,
    config: Mapping[str, Any],
    path: Path,
    *,
    sections: Iterable[str],
    known_elsewhere: Callable[[], set[str]],
    runner_keys: Sequence[str] = (),
) -> dict[str, Any]:
    """The values of `config` that are options of `parser`, converted as argparse would.
    `runner_keys`: ci.migrate's keys the check reads where the runner does (`runner_values`),
    refused in the check's own section with a line saying where they go."""
    refuse_command_line_only(config, path)
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    sections = set(sections)
    unknown = sorted(
        k
        for k, v in config.items()
        if k in NOT_KEYS or (k not in actions and not (k in sections and isinstance(v, dict)))
    )
    if unknown and (set(unknown) & NOT_KEYS or set(unknown) - known_elsewhere()):
        raise ConfigError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} " + _bad(unknown))
    misplaced = sorted(
        k for k, v in config.items() if k in actions and k not in sections and isinstance(v, dict)
    )
    if misplaced:  # `invariants: {file: x.sql}` is not a section: never drop it unseen
        raise ConfigError(f"{path}: {misplaced[0]}: expected a single value, got a mapping")
    raw = {k: v for k, v in config.items() if k in actions and not isinstance(v, dict)}
    section = config.get(check)
    if isinstance(section, dict):
        wrong = sorted(k for k in section if k not in actions or k in NOT_KEYS)
        theirs = [k for k in wrong if k in runner_keys]
        if theirs:
            raise ConfigError(
                f"{path}: section {check}: {theirs[0]} is ci.migrate's: put it under migrate: "
                f"(or at the top level), where the runner reads it; {check} reads it there too"
            )
        if wrong:
            raise ConfigError(f"{path}: section {check}: unknown key(s) {_bad(wrong)}")
        raw.update(section)
    return {k: convert(actions[k], v, path) for k, v in raw.items()}


def runner_values(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The values of `keys` as ci.migrate reads them: the top level, its `migrate:` section
    winning (unconverted: ci.migrate refuses a bad one)."""
    values = {k: config[k] for k in keys if k in config and not isinstance(config[k], dict)}
    section = config.get("migrate")
    if isinstance(section, dict):
        values.update({k: section[k] for k in keys if k in section})
    return values


def engine_named(config: Mapping[str, Any], check: str) -> object:
    """The engine the config file sets for `check` (its section wins), or None."""
    section = config.get(check)
    if isinstance(section, dict) and "engine" in section:
        return section["engine"]
    return config.get("engine")


def refuse_command_line_only(config: Mapping[str, Any], path: Path) -> None:
    """A ConfigError for the first key of COMMAND_LINE_ONLY the file sets, wherever it is."""
    entries = [("", k, v) for k, v in config.items()]
    entries += [
        (f"section {name}: ", k, v)
        for name, section in config.items()
        if isinstance(section, dict)
        for k, v in section.items()
    ]
    for where, key, value in entries:
        if key in COMMAND_LINE_ONLY and value is not False:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(
                f"{path}: {where}{key}: command-line only: it {COMMAND_LINE_ONLY[key]}, and a "
                f"key here would do that on every run that reads this file; give {flag} on the "
                "command line when you mean it"
            )


def shown(value: Any) -> str:
    """A YAML value as the user wrote it: `key:` with nothing after it is an empty value, not
    Python's None; true/false stay lowercase."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _bad(keys: Sequence[str]) -> str:
    return ", ".join(keys) + " (keys are the checks' options, e.g. migrations_dir, base_ref)"


def convert(action: argparse.Action, value: Any, path: Path) -> Any:
    """A YAML value as the option's own type, or a ConfigError naming the key."""
    key = action.dest
    if action.nargs == 0:  # store_true / store_false / store_const / count
        if isinstance(action, argparse._CountAction) and isinstance(value, int):
            return value
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {key}: expected true or false, got {shown(value)}")
        if isinstance(action, argparse._StoreConstAction) and not isinstance(
            action, (argparse._StoreTrueAction, argparse._StoreFalseAction)
        ):
            return action.const if value else action.default
        return value
    many = (
        action.nargs in ("*", "+")
        or isinstance(action.nargs, int)
        or (isinstance(action, argparse._AppendAction))
    )
    if many:
        items = value if isinstance(value, list) else [value]
        return [_one(action, item, path) for item in items]
    if isinstance(value, list):
        raise ConfigError(f"{path}: {key}: expected one value, got a list")
    return _one(action, value, path)


def _one(action: argparse.Action, value: Any, path: Path) -> Any:
    key = action.dest
    if isinstance(value, (dict, list)) or value is None:
        raise ConfigError(f"{path}: {key}: expected a single value, got {shown(value)}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    converted: Any = text
    if callable(action.type):
        try:
            converted = action.type(text)
        except (TypeError, ValueError, argparse.ArgumentTypeError) as error:
            raise ConfigError(f"{path}: {key}: invalid value {shown(value)}: {error}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{path}: {key}: {shown(value)} is not one of {choices}")
    return converted
