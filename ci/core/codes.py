"""Every finding code (MGxxx): what it reports, how to fix it, and the page that explains it.

One registry for the whole tool. The checks write their own messages (they know the file, the
numbers and the names); this table is the stable part a reader looks up: the title a code always
means, the usual fix, and the documentation page. `docs/codes.md` and one page per code are
generated from it (`python -m ci.app.docgen`), and a test keeps it equal to the codes the checks
use. The lint rules (MG501-MG511) are documented by their own docstrings (`docs/rules/`); their
titles here are the rules' one-line rationales.

Plain classes, no dataclasses: `ci.core` is on the start-up path of the static checks.
"""

from __future__ import annotations

from ci.core.codes_squawk import SQUAWK_CODES
from ci.core.findings import Record

# The page that tells each check's whole story, relative to the repository root.
CHECK_PAGES = {
    "numbering": "docs/checks/numbering.md",
    "checksums": "docs/checks/checksums.md",
    "apply_empty": "docs/checks/apply.md",
    "apply_sample": "docs/checks/apply.md",
    "rollback_roundtrip": "docs/checks/rollback_roundtrip.md",
    "lint": "docs/checks/lint.md",
    "precheck": "docs/runner.md",
    "postcheck": "docs/runner.md",
    "schema_changes": "docs/checks/schema_changes.md",
}
# Code families whose story is told on their own page rather than their check's.
FAMILY_PAGES = {"MG6": "schema_changes"}


class Code(Record):
    """One finding code. `checks`: the checks that report it, the first one owning its page."""

    FIELDS = ("code", "checks", "title", "hint")
    __slots__ = FIELDS

    def __init__(self, code: str, checks: tuple[str, ...], title: str, hint: str) -> None:
        self.code = code
        self.checks = checks
        self.title = title
        self.hint = hint

    @property
    def is_rule(self) -> bool:
        """A lint safety rule, documented by its own module's docstring."""
        return self.code.startswith("MG5") and self.code != "MG500"

    @property
    def page(self) -> str:
        """The generated page of this code, relative to the repository root."""
        folder = "rules" if self.is_rule else "codes"
        return f"docs/{folder}/{self.code}.md"

    @property
    def story(self) -> str:
        """The page of the check that reports it, where the code is explained in context."""
        return CHECK_PAGES[FAMILY_PAGES.get(self.code[:3], self.checks[0])]


NUMBERING = ("numbering",)
CHECKSUMS = ("checksums",)
DATABASE = ("apply_empty", "apply_sample", "rollback_roundtrip")
APPLY = ("apply_empty", "apply_sample")
ROUND_TRIP = ("rollback_roundtrip",)
LINT = ("lint",)
PRE_AND_POST = ("precheck", "postcheck")
SCHEMA = ("apply_empty",)

CODES: tuple[Code, ...] = (
    # numbering: names, tracks and rollback pairs
    Code("MG101", NUMBERING, "a number used twice in a track",
         "rename the file that is applied nowhere yet to the suggested next free number"),
    Code("MG102", NUMBERING, "a gap in a track's numbers",
         "bring the integration branch in when it has the missing number; else rename the "
         "later file down to it, or restore the deleted file"),
    Code("MG103", NUMBERING, "a malformed migration name, or a directory named *.sql",
         "name it NNNN_slug.sql: 4 or more digits, a lower-case slug of [a-z0-9_], .sql"),
    Code("MG104", NUMBERING, "a folder other than schema/, data/, seed/ and rollback/",
         "move the files into one of the known folders"),
    Code("MG105", NUMBERING, "a symlink that leaves the repository (or loops)",
         "replace the link with the file"),
    Code("MG106", NUMBERING, "a rollback file without a main-track migration",
         "give it the number of the migration it undoes, or delete it"),
    Code("MG107", NUMBERING, "a main-track migration without a rollback file",
         "write rollback/NNNN_rollback.sql, or declare -- @irreversible <reason>"),
    Code("MG108", NUMBERING, "a new migration numbered at or below the base ref's highest",
         "rename it (and its rollback file) to the number the message suggests"),
    Code("MG109", NUMBERING, "a migration file that cannot be read",
         "fix what the message names (a bad directive, not UTF-8, a broken symlink)"),
    Code("MG110", NUMBERING, "a second rollback file for one migration",
         "merge them into one rollback file"),
    Code("MG111", NUMBERING, "warning: a rollback file named after another slug",
         "rename it after the migration it undoes (left over from a renumbering?)"),
    Code("MG112", NUMBERING, "a rollback file beside a migration declared @irreversible",
         "delete the rollback file if the migration cannot be undone, else the @irreversible "
         "line"),
    # checksums: edits to applied files
    Code("MG201", CHECKSUMS, "an applied migration was edited",
         "restore the applied text and put the change in a new migration"),
    Code("MG202", CHECKSUMS, "an applied migration was deleted",
         "restore it; undo a migration with a new migration"),
    Code("MG203", CHECKSUMS, "an applied migration was renamed",
         "rename it back: databases that applied it would run it again under the new name"),
    Code("MG204", CHECKSUMS, "a migration file missing from the lock file",
         "python -m ci.checksums --update, and commit the lock with the migration"),
    Code("MG205", CHECKSUMS, "the lock file's sum does not match its lines, or it has conflict "
         "markers",
         "take the target branch's lock, renumber your migration if needed, then --update"),
    Code("MG206", CHECKSUMS, "no lock file (and no --db or --base-ref)",
         "python -m ci.checksums --update, and commit the lock"),
    Code("MG207", CHECKSUMS, "a malformed lock file line",
         "fix or delete the line, then python -m ci.checksums --update"),
    Code("MG208", CHECKSUMS, "warning: the database has no schema_version, or rows without a hash",
         "nothing to do before the first migrate; run python -m ci.migrate once"),
    Code("MG209", CHECKSUMS, "a migration file that cannot be read",
         "fix what the message names"),
    Code("MG210", CHECKSUMS, "the lock entry of this branch's own unmerged migration is out of "
         "date",
         "python -m ci.checksums --update"),
    # the database checks
    Code("MG301", DATABASE, "a migration does not apply",
         "fix the statement on the line the message names; the hint follows SQLite's words"),
    Code("MG302", APPLY, "warning: a migration slower than --warn-slow",
         "batch it (-- @batch N) or plan a maintenance window"),
    Code("MG303", APPLY, "integrity_check fails after the migrations",
         "find the migration that corrupts the database (a writable_schema edit?)"),
    Code("MG304", APPLY, "foreign_key_check fails after the migrations",
         "delete or fix the orphan rows in a data migration, or correct the REFERENCES"),
    Code("MG305", APPLY, "schema_version does not end at the highest migration",
         "every migration must record itself; do not write schema_version by hand"),
    Code("MG306", APPLY, "an invariant query returns rows",
         "fix the migration that breaks it, or the data it leaves behind"),
    Code("MG307", APPLY, "the migrations do not produce the committed schema snapshot",
         "if the change is intended, rerun with --write-snapshot and commit the snapshot"),
    Code("MG308", ("apply_sample",), "a migration makes a table lose rows on the sample data",
         "keep the rows, or declare -- @allow-row-loss <table>"),
    Code("MG309", ("apply_sample",), "the sample fixture does not load at its @sample-version",
         "make the fixture fit the schema of its @sample-version"),
    Code("MG310", DATABASE, "two migration files with one number",
         "renumber one of them (python -m ci.numbering shows the next free number)"),
    Code("MG311", DATABASE, "a runaway migration: past --statement-timeout, or an endless @batch",
         "bound the statement (a recursive CTE needs a stop; a @batch must exclude done rows)"),
    Code("MG312", ("apply_sample",), "a migration changes values on the sample data",
         "keep the values, or declare -- @rewrites <table>(<column>, ...)"),
    Code("MG313", ("apply_sample",), "a migration turns values NULL on the sample data",
         "keep the values, or declare -- @rewrites <table>(<column>, ...)"),
    Code("MG314", ROUND_TRIP, "warning: a column generated non-deterministically was left out of "
         "the round-trip comparison",
         "nothing to do; compare it yourself if its values matter (a fixed value instead of now)"),
    Code("MG315", ("apply_sample",), "a migration would hold the write lock longer than "
         "--max-lock-seconds in production (estimated from --prod-stats)",
         "make it a -- @batch N migration (or lower N) so each lock is one batch"),
    Code("MG316", ("apply_sample",), "warning: the production stats do not fit the sample, so "
         "the impact estimate is less certain",
         "export the stats again (python -m ci.precheck --db PROD --export-stats FILE)"),
    # precheck and postcheck, around a production migration
    Code("MG350", PRE_AND_POST, "integrity_check fails on the database",
         "restore from a backup (or .recover it) before migrating"),
    Code("MG351", PRE_AND_POST, "foreign_key_check finds orphan rows",
         "fix or delete the orphan rows first; every migration's commit checks them"),
    Code("MG352", PRE_AND_POST, "the database has an open dirty mark",
         "finish the migration with --resume, or repair by hand and --force-clean"),
    Code("MG353", ("postcheck",), "schema_version is not the expected version",
         "run python -m ci.migrate (or --rollback) to reach the expected version"),
    Code("MG354", ("postcheck",), "an invariant query returns rows",
         "fix the data (or the migration that left it) so the query returns nothing"),
    # the rollback round trip
    Code("MG401", ROUND_TRIP, "a main-track migration has no rollback file",
         "write the rollback, or declare -- @irreversible <reason>"),
    Code("MG402", ROUND_TRIP, "an empty or unreadable rollback file",
         "write the statements that undo the migration, as UTF-8 SQL"),
    Code("MG403", ROUND_TRIP, "the rollback fails",
         "fix the rollback statement on the line the message names"),
    Code("MG404", ROUND_TRIP, "the rollback does not restore the database",
         "make the rollback undo exactly what the migration does"),
    Code("MG405", ROUND_TRIP, "re-applying the migration after its rollback fails",
         "make the rollback drop what the migration creates, so it can run again"),
    Code("MG406", ROUND_TRIP, "re-applying the migration after its rollback gives another result",
         "the rollback leaves something the migration then trips over or skips: undo it all"),
    Code("MG407", ROUND_TRIP, "on the sample data, a rollback and re-apply loses rows",
         "make the rollback keep the rows (copy them in a table rebuild)"),
    # lint
    Code("MG500", LINT, "a file lint cannot read, an empty file, or one too large for sqlfluff",
         "as the message says: save as UTF-8, fix the directive, or raise --sqlfluff-max-bytes"),
    Code("MG501", LINT, "schema and data changes go in separate migrations",
         "move the DML into a data/ migration, or the DDL into a schema/ one"),
    Code("MG502", LINT, "UPDATE/DELETE without WHERE changes every row",
         "add the WHERE clause that selects the rows to change"),
    Code("MG503", LINT, "DROP TABLE / DROP COLUMN outside rollback/ destroys data",
         "drop in a later release, once nothing reads the data, saying so with -- noqa"),
    Code("MG504", LINT, "a seed must be safe to run twice",
         "INSERT OR IGNORE, ON CONFLICT DO NOTHING, or INSERT ... WHERE NOT EXISTS"),
    Code("MG505", LINT, "SQLite rejects ADD COLUMN ... NOT NULL without a default",
         "give the column a DEFAULT, then fill real values in a data migration"),
    Code("MG506", LINT, "PRAGMA foreign_keys, VACUUM and journal_mode do nothing or fail in a "
         "transaction",
         "PRAGMA foreign_keys first in the file; VACUUM in a -- @no-transaction migration"),
    Code("MG507", LINT, "a table rebuild must end with PRAGMA foreign_key_check",
         "end the rebuild with PRAGMA foreign_key_check;"),
    Code("MG508", LINT, "the runner owns the transaction; BEGIN/COMMIT/ROLLBACK in a file are "
         "ignored",
         "remove them; use -- @no-transaction for work outside a transaction"),
    Code("MG509", LINT, "ATTACH, load_extension and writable_schema have no place in a migration",
         "copy between databases in code; load extensions in the --setup callable"),
    Code("MG510", LINT, "RENAME COLUMN needs SQLite 3.25.0, DROP COLUMN 3.35.0",
         "use SQLite's table rebuild, or raise --min-sqlite-version"),
    Code("MG511", LINT, "a @batch file is one DML statement limited by :batch_size",
         "one UPDATE/DELETE/INSERT whose rows are limited by :batch_size"),
    # lint on PostgreSQL: squawk's rules, one code each (ci/core/codes_squawk.py)
    *(Code(code, LINT, title, hint) for code, title, hint in SQUAWK_CODES),
    # schema changes: what each migration changes, found by apply_empty (ci/db/schema_changes.py)
    Code("MG601", SCHEMA, "a table the previous schema had is dropped (or dropped and created "
         "again with none of its old rows copied back)",
         "keep it (a rebuild copies the rows back); drop it in a later release, after the code "
         "stops reading it"),
    Code("MG602", SCHEMA, "a column is dropped (also by a table rebuild that leaves it out)",
         "copy the column in the rebuild, or drop it in a later release after the code stops "
         "reading it"),
    Code("MG603", SCHEMA, "warning: a table or column is renamed (the deployed app reads the old "
         "name)",
         "add the new name first, switch the code, drop the old name in a later release"),
    Code("MG604", SCHEMA, "warning: a column's type, default, collation or primary key changes",
         "check that the app and the stored values agree with the new definition"),
    Code("MG605", SCHEMA, "warning: NOT NULL added to an existing column",
         "fill the NULLs in a data migration first, and check production has none left"),
    Code("MG606", SCHEMA, "warning: a UNIQUE index or constraint added to an existing table",
         "remove the duplicates in a data migration first; the sample may have none"),
    Code("MG607", SCHEMA, "warning: a CHECK or foreign key added or changed on an existing table",
         "fix the production rows that break it in a data migration first"),
    Code("MG608", SCHEMA, "warning: an index, view or trigger dropped or redefined",
         "recreate it after a table rebuild; drop it only when nothing relies on it"),
    Code("MG609", SCHEMA, "error: a foreign key, trigger or view left using a table or view that "
         "no longer exists (dropped, or a RENAME rewrote it to one dropped later)",
         "rebuild by CREATE new, copy, DROP old, RENAME new TO old (dropping the triggers and "
         "views that use it first, recreated after), so references keep the table's name; or "
         "drop or recreate what uses a table you drop"),
)  # fmt: skip

BY_CODE = {entry.code: entry for entry in CODES}


def lookup(code: str) -> Code | None:
    """The registry entry of `code` (e.g. "MG101"), or None for a code that is not ours."""
    return BY_CODE.get(code)
