"""MG504 seed-not-idempotent: an `INSERT` in `seed/` that fails or duplicates when run twice.

Seeds are reference data and must be idempotent: they run after the main track, on
databases that may already hold the rows (copied from production, seeded by hand, or by an older
version of the seed). A plain `INSERT` then fails on a unique key or, worse, adds duplicates.
Accepted forms: `INSERT OR IGNORE`, `INSERT OR REPLACE` / `REPLACE INTO`, an upsert
(`ON CONFLICT ...`), or `INSERT ... SELECT ... WHERE NOT EXISTS (...)`.

Anti-pattern (`seed/0001_default_settings.sql`)::

    INSERT INTO settings (key, value) VALUES ('alarm_volume', '7');

Best practice::

    INSERT INTO settings (key, value) VALUES ('alarm_volume', '7')
    ON CONFLICT (key) DO NOTHING;

Silence: `-- noqa: MG504` in the statement (or on the comment line above it).
"""

from __future__ import annotations

from collections.abc import Iterator

from ci.checks.lint.rules.base import FileContext, Hit, LintCase, Rule

CODE = "MG504"


def check(ctx: FileContext) -> Iterator[Hit]:
    if ctx.folder != "seed":
        return
    for sql in ctx.sql:
        if sql.verb == "INSERT" and not _idempotent(sql.code):
            yield Hit(
                sql,
                "seed INSERT is not idempotent: a second run fails or duplicates rows",
                "write INSERT OR IGNORE, an ON CONFLICT clause, or ... WHERE NOT EXISTS (...)",
            )


def _idempotent(code: str) -> bool:
    return any(
        marker in code
        for marker in ("INSERT OR IGNORE", "INSERT OR REPLACE", " ON CONFLICT", "WHERE NOT EXISTS")
    )


CASES = (
    LintCase("plain insert", "seed", "INSERT INTO settings (k, v) VALUES ('a', '1');\n", "fail"),
    LintCase("or abort", "seed", "INSERT OR ABORT INTO settings (k) VALUES ('a');\n", "fail"),
    LintCase(
        "on conflict in a string",
        "seed",
        "INSERT INTO notes (t) VALUES (' ON CONFLICT');\n",
        "fail",
    ),
    LintCase("or ignore", "seed", "INSERT OR IGNORE INTO settings (k) VALUES ('a');\n", "pass"),
    LintCase("replace into", "seed", "REPLACE INTO settings (k, v) VALUES ('a', '1');\n", "pass"),
    LintCase(
        "upsert",
        "seed",
        "INSERT INTO settings (k, v) VALUES ('a', '1')\n"
        "ON CONFLICT (k) DO UPDATE SET v = excluded.v;\n",
        "pass",
    ),
    LintCase(
        "where not exists",
        "seed",
        "INSERT INTO settings (k, v) SELECT 'a', '1'\n"
        "WHERE NOT EXISTS (SELECT 1 FROM settings WHERE k = 'a');\n",
        "pass",
    ),
    LintCase("data folder is not a seed", "data", "INSERT INTO t (id) VALUES (1);\n", "pass"),
    LintCase(
        "silenced",
        "seed",
        "-- noqa: MG504 audit rows: one per run is intended\n"
        "INSERT INTO seed_runs (at) VALUES (datetime('now'));\n",
        "silenced",
    ),
)

RULE = Rule(
    CODE,
    "seed-not-idempotent",
    "a seed must be safe to run twice",
    __doc__ or "",
    check,
    CASES,
)
