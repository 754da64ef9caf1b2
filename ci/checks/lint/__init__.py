"""The lint check's logic: sqlfluff plus the migration safety rules (MG5xx), one case per file.

- `engine`: one run (`run` from the options, `lint` from a file list) and the safety rules
- `files`: which files a run covers (given, every migration file, or changed since a base ref)
- `inputs`: the check's name, reading a file for the rules, a file it cannot lint (MG500)
- `noqa`: the `-- noqa: CODE` comments that waive a safety rule for one statement
- `sqlfluff_adapter`: sqlfluff in this process, its configuration, statements it cannot parse
- `sqlite_syntax`: whether SQLite itself compiles a statement sqlfluff cannot parse
- `squawk_adapter`: squawk on PostgreSQL migrations (`--engine postgresql`), its findings ours
- `squawk_rules`: each squawk rule's code (MG7xx) and severity
- `pg_rules`: our PostgreSQL rules for what squawk has no rule for (MG790, MG791)
- `options`: the values of lint's options (rule codes, SQLite versions)
- `rules/`: the safety rules, one module each; `all_rules()` lists them
"""

from __future__ import annotations

from ci.checks.lint.engine import lint, run, run_rules
from ci.checks.lint.inputs import CHECK, INPUT_CODE, file_context
from ci.checks.lint.rules import all_rules

__all__ = ["CHECK", "INPUT_CODE", "all_rules", "file_context", "lint", "run", "run_rules"]
