"""The production-impact model: what a migration measured on the sample (ci.db.impact) becomes at
production size (ci.db.prodstats).

Linear in rows touched, statement by statement. Each table has a scale, production rows over sample
rows; a statement's scale is the mean of the scales of the tables it reads, writes or indexes,
weighted by their sample rows before it ran; its production time is its sample time times its
scale. A table a migration creates (the new table of a rebuild), or fills while it was empty, takes
the scale of the statement that fills it, and keeps it through a rename. Rows an INSERT/REPLACE
lists (no table read) are not scaled. A statement that writes rows and changed none on the sample
says nothing of production: its tables' rows are unknown (`Estimate.unknown`, an MG316 warning),
never "no rows". A table the stats do not have, or that is empty in the sample, takes the
scale of the database as a whole (the sum of production rows over the sum of sample rows).
Compiling a statement (timed as its EXPLAIN) does not grow with the rows and is not scaled; nor is
a statement that only changes the schema (ci.db.impact.schema_only: ALTER TABLE ADD COLUMN /
RENAME, CREATE TABLE, views, triggers). An index build sorts its table's rows: it grows by its
scale times log(n * scale) / log(n) (`sorting`). Each commit costs one durable commit of this
machine, a fixed part plus a part per page it writes (ci.db.impact_io.commit_cost: the sample's
copy commits without fsync); the pages are the ones each statement changed on the sample
(ci.db.impact_io.Pages) times the production pages over the sample pages of the tables it
writes (`Scales.pages`). The sample runs with its share of SQLite's page cache
(ci.db.impact.Measurer.scale_to). What it ignores: the operating system's cache (a production
file larger than memory is read from disk), the CPU's caches (a sample's tables fit in them,
production's do not: the time per row of a scan or a sort grows with the table), the depth of
b-trees growing with log n, and the runner's bookkeeping and foreign_key_check after a migration
that turned foreign keys off.

The write lock: a migration holds it from its BEGIN IMMEDIATE to its COMMIT, so for the whole
migration; a `@no-transaction` one commits each statement alone (its longest statement); a
`@batch N` one commits each batch (one batch of N rows, at the migration's time per row).
"""

from __future__ import annotations

import math

from ci.db.impact import BATCH, NO_TRANSACTION, MigrationRun, StatementRun
from ci.db.impact_io import CommitCost
from ci.db.prodstats import ProdStats

# A table with fewer rows than this in the sample gives no time per row worth scaling: a newcomer's
# 5-row sample scaled to 1,000,000 rows estimated one rebuild at 19 s to 8.6 min over five runs.
MIN_SAMPLE_ROWS = 100


class Scales:
    """The scale of each table (production rows / sample rows), and what could not be scaled."""

    def __init__(
        self, stats: ProdStats, sample: dict[str, int], pages: dict[str, int] | None = None
    ) -> None:
        both = [t for t in sample if t in stats.tables and sample[t] > 0]
        sample_total = sum(sample[t] for t in both)
        prod_total = sum(stats.tables[t].rows for t in both)
        self.database = prod_total / sample_total if sample_total else 1.0
        self.missing = sorted(t for t in sample if t not in stats.tables)
        self.empty = sorted(  # rows in production, none in the sample: nothing to scale from
            t for t in sample if t in stats.tables and not sample[t] and stats.tables[t].rows
        )
        # too few rows in the sample to time a row by: scaled up, their noise is the estimate
        self.thin = sorted(
            t
            for t, rows in sample.items()
            if 0 < rows < MIN_SAMPLE_ROWS and t in stats.tables and stats.tables[t].rows > rows
        )
        self.sample_rows = sample
        self.sample_pages = pages or {}
        self.stats = stats
        self.table: dict[str, float] = {}
        for t, rows in sample.items():
            prod = stats.tables[t].rows if t in stats.tables else None
            if prod is None or (not rows and prod):
                self.table[t] = self.database
            else:
                self.table[t] = prod / rows if rows else 1.0

    def of(self, statement: StatementRun) -> float:
        """The statement's scale; tables it creates or renames, and tables it fills that were
        empty before it, take it on. The weights are the rows before the statement: the rows
        an INSERT ... SELECT puts into an empty table are its output, not a size it scales by."""
        sizes = statement.before or statement.rows
        weights = {t: sizes.get(t, 0) for t in statement.touched if t in self.table}
        total = sum(weights.values())
        if total:
            scale = sum(w * self.table[t] for t, w in weights.items()) / total
        elif weights:
            scale = max(self.table[t] for t in weights)
        else:
            scale = self.database
        filled = {t for t in statement.writes if not sizes.get(t) and statement.changes}
        for table in statement.created | (statement.writes - set(self.table)) | filled:
            self.table[table] = scale
        for old, new in statement.renamed.items():
            self.table[new] = self.table.pop(old, scale)
        for table in statement.dropped - set(statement.renamed):
            self.table.pop(table, None)
        return scale

    def _written_pages(self, statement: StatementRun) -> tuple[int, int, int]:
        """(sample pages, production pages, production rows) of the tables the statement
        writes or indexes that both the sample (dbstat) and the stats have pages for."""
        tables = [
            t
            for t in statement.writes | statement.indexed
            if self.sample_pages.get(t) and t in self.stats.tables
        ]
        prod = [self.stats.tables[t] for t in tables]
        return (
            sum(self.sample_pages[t] for t in tables),
            sum(s.pages + s.index_pages for s in prod),
            sum(s.rows for s in prod),
        )

    def pages(self, statement: StatementRun, scale: float) -> float:
        """The pages the statement changes in production: its pages on the sample times the
        pages of the tables it writes in production over theirs in the sample (a table's
        pages do not follow its rows exactly: rows grow, pages fill); `scale` (its rows')
        when the pages of neither are known."""
        sample, prod, _ = self._written_pages(statement)
        return statement.pages * (prod / sample if sample and prod else scale)

    def pages_per_row(self, statement: StatementRun) -> float | None:
        """Production pages per row of the tables the statement writes, None when unknown."""
        _, prod, rows = self._written_pages(statement)
        return prod / rows if prod and rows else None


class Estimate:
    """One migration at production size."""

    __slots__ = (
        "line",
        "lock",
        "migration",
        "mode",
        "rows",
        "sample_seconds",
        "seconds",
        "thin",
        "unknown",
        "unscaled",
    )

    def __init__(self, run: MigrationRun) -> None:
        self.migration = run.migration
        self.mode = run.mode
        self.sample_seconds = run.seconds
        self.seconds = 0.0
        self.lock = 0.0  # the longest time it holds the write lock
        self.line: int | None = None  # the statement that holds it longest
        self.rows: dict[str, int] = {}  # table (its name after the migration) -> rows written
        self.unscaled: list[str] = []  # tables it touches that are empty in the sample only
        self.thin: list[str] = []  # tables it scales from too few sample rows (MIN_SAMPLE_ROWS)
        # table -> the line of a statement that writes it and changed no row on the sample:
        # what it changes in production is not known (not "no rows")
        self.unknown: dict[str, int] = {}


def estimate(
    runs: list[MigrationRun], scales: Scales, commit: CommitCost | float = 0.0
) -> list[Estimate]:
    """Each run at production size; `commit`: what one durable commit costs (a float: its
    seconds, whatever it writes)."""
    cost = commit if isinstance(commit, CommitCost) else CommitCost(commit)
    return [_one(run, scales, cost) for run in runs]


def scaled(statement: StatementRun, scale: float) -> float:
    """The statement's time at production size: compiling it does not grow, the rest does."""
    fixed = min(statement.fixed, statement.seconds)
    return fixed + (statement.seconds - fixed) * scale


def sorting(statement: StatementRun, scale: float) -> float:
    """How much more than `scale` an index build grows: it sorts its table's n rows, n log n
    comparisons, log(n * scale) / log(n) times more per row in production."""
    sizes = statement.before or statement.rows
    rows = max((sizes.get(t, 0) for t in statement.indexed), default=0)
    if not statement.sorts or scale <= 1 or rows < 2:
        return 1.0
    return math.log(rows * scale) / math.log(rows)


def _one(run: MigrationRun, scales: Scales, commit: CommitCost) -> Estimate:
    result = Estimate(run)
    slowest, scale, pages = 0.0, scales.database, 0.0
    each_commits = run.mode == NO_TRANSACTION
    for statement in run.statements:
        scale = scales.of(statement)
        # a schema-only statement does not grow; an index build grows faster than its rows
        grows = 1.0 if statement.constant else scale * sorting(statement, scale)
        # a schema-only statement rewrites the schema's pages, whatever the table's size
        changed = statement.pages if statement.constant else scales.pages(statement, scale)
        pages += changed
        seconds = scaled(statement, grows) + (commit.of(changed) if each_commits else 0.0)
        result.seconds += seconds
        if seconds >= slowest:
            slowest, result.line = seconds, statement.line
        _written(result, statement, grows)
        _unknown(result, statement)
        result.unscaled += sorted((set(scales.empty) & statement.touched) - set(result.unscaled))
        if not statement.constant:
            result.thin += sorted((set(scales.thin) & statement.touched) - set(result.thin))
    if run.mode == BATCH:
        pages = _batch_pages(run, scales, scale)
        result.seconds, result.lock = _batched(run, scale, commit, pages)
    elif each_commits:
        result.lock = slowest
    else:
        result.seconds += commit.of(pages)
        result.lock = result.seconds
    return result


def _written(result: Estimate, statement: StatementRun, scale: float) -> None:
    """Rows the statement wrote, at production size, under the tables' names after it."""
    for old, new in statement.renamed.items():
        if old in result.rows:
            result.rows[new] = result.rows.pop(old)
    written = statement.writes - set(statement.renamed) - statement.dropped
    if not written or not statement.changes:
        return
    share = math.ceil(statement.changes * scale / len(written))
    for table in sorted(written):
        result.rows[table] = result.rows.get(table, 0) + share


def _unknown(result: Estimate, statement: StatementRun) -> None:
    """A statement that writes rows and changed none on the sample (an UPDATE whose WHERE
    matches no sample row, an INSERT ... SELECT that finds none, a trigger that did not
    fire): it may change many in production; the sample cannot say how many."""
    if not statement.dml or statement.changes:
        return
    for table in sorted(statement.writes - statement.dropped - set(statement.renamed)):
        if table not in result.rows:
            result.unknown.setdefault(table, statement.line)


def _batched(
    run: MigrationRun, scale: float, commit: CommitCost, pages: float
) -> tuple[float, float]:
    """A @batch migration's (duration, longest lock). On the sample it ran as many batches as
    in production, of fewer rows (Measurer.scale_to): its rows at production size at the
    sample's time per row, plus one compile and one commit of `pages` per batch; the lock is
    one batch of N rows at the time per row of its last batches (a batch that skips rows it
    leaves alone grows slower from batch to batch), and its commit."""
    statement = run.statements[0]
    executions = max(statement.executions, 1)
    fixed = min(statement.fixed, statement.seconds) / executions
    variable = statement.seconds - fixed * executions
    reads = run.reads_first * scale
    if not statement.changes:  # nothing to do on the sample: one batch that finds nothing
        one = fixed + variable / executions * scale + commit.of(0)
        return reads + one, one
    rows = statement.changes * scale
    batches = math.ceil(rows / (run.batch_size or 1))
    each = fixed + commit.of(pages)
    duration = reads + batches * each + fixed + commit.of(0) + variable / statement.changes * rows
    return duration, each + _tail_per_row(run) * min(float(run.batch_size or 1), rows)


def _batch_pages(run: MigrationRun, scales: Scales, scale: float) -> float:
    """The pages one production batch of N rows changes: a sample batch's (the median of its
    last quarter) scaled by pages, but at most the sample batch's own pages (the b-trees'
    upper levels, changed by every batch whatever its size) plus N rows' share of the written
    tables' pages in production."""
    if not run.batch_pages:
        return 0.0
    statement = run.statements[0]
    tail = run.batch_pages[-max(1, len(run.batch_pages) // 4) :]
    sample = sorted(tail)[len(tail) // 2]
    one = StatementRun(statement.line)
    one.pages, one.writes, one.indexed = sample, statement.writes, statement.indexed
    scaled_pages = scales.pages(one, scale)
    per_row = scales.pages_per_row(one)
    if per_row is None:
        return scaled_pages
    return min(scaled_pages, sample + per_row * (run.batch_size or 1))


def _tail_per_row(run: MigrationRun) -> float:
    """Seconds per row of the last quarter of the batches (at least one)."""
    tail = run.batch_work[-max(1, len(run.batch_work) // 4) :]
    rows = sum(changes for _, changes in tail)
    return max(sum(seconds for seconds, _ in tail), 0.0) / rows if rows else 0.0
