"""ci.checks.impact_model on statements measured on real SQLite: what a production commit writes
(the pages each statement changes, scaled by pages) and an index build's n log n."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ci.checks.impact_model import Scales, estimate, sorting
from ci.db.impact_io import CommitCost
from ci.db.prodstats import ProdStats, TableStats
from tests.checks.test_impact import BATCHED, UPDATE, measured
from tests.conftest import WriteTree

INDEX = "CREATE INDEX readings_value ON readings (value);\n"


def stats(rows: int, pages: int, index_pages: int = 0) -> ProdStats:
    return ProdStats(Path("s.json"), 1, {"readings": TableStats(rows, pages, index_pages)})


def test_the_commit_writes_the_pages_changed_scaled_by_pages(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, UPDATE)
    (statement,) = runs[0].statements  # type: ignore[attr-defined]
    assert statement.pages >= 2  # 500 rows: a few leaves and their root, counted on the sample
    # production: 100 times the rows, in 300 pages (table 250, index 50) against the sample's 6
    scales = Scales(stats(50_000, 250, 50), {"readings": 500}, {"readings": 6})
    commit = CommitCost(0.01, 0.001)
    (result,) = estimate(runs, scales, commit)  # type: ignore[arg-type]
    variable = statement.seconds - statement.fixed
    pages = statement.pages * 300 / 6
    assert result.seconds == pytest.approx(statement.fixed + variable * 100 + 0.01 + 0.001 * pages)
    # without the pages of either, the rows' scale
    (result,) = estimate(runs, Scales(stats(50_000, 0), {"readings": 500}), commit)  # type: ignore[arg-type]
    assert result.seconds == pytest.approx(
        statement.fixed + variable * 100 + 0.01 + 0.001 * statement.pages * 100
    )


def test_an_index_build_grows_n_log_n(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, INDEX)
    (statement,) = runs[0].statements  # type: ignore[attr-defined]
    assert statement.sorts and statement.indexed == {"readings"}
    scales = Scales(stats(50_000, 0), {"readings": 500})
    (result,) = estimate(runs, scales)  # type: ignore[arg-type]
    variable = statement.seconds - statement.fixed
    factor = math.log(50_000) / math.log(500)
    assert sorting(statement, 100) == pytest.approx(factor)
    assert result.seconds == pytest.approx(statement.fixed + variable * 100 * factor)
    assert sorting(statement, 1) == 1.0  # production no larger: nothing more to sort


def test_a_batch_commits_its_pages_at_most_its_share_of_the_table(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, BATCHED.replace("@batch 100", "@batch 1000"), 20)
    (run,) = runs
    assert run.batch_pages and all(p >= 1 for p in run.batch_pages)  # type: ignore[attr-defined]
    sample = sorted(run.batch_pages[-2:])[1]  # type: ignore[attr-defined]
    # production: 10,000 rows in 1,000 pages, 10 rows a page; the sample's 500 rows in 5 pages
    scales = Scales(stats(10_000, 1_000), {"readings": 500}, {"readings": 5})
    commit = CommitCost(0.0, 0.001)
    (scaled,) = estimate(runs, scales, commit)  # type: ignore[arg-type]
    (free,) = estimate(runs, scales)  # type: ignore[arg-type]
    # a batch of 1,000 rows writes at most its 100 pages and the sample batch's upper levels,
    # not the sample batch's pages times 200 (the pages' scale)
    pages = min(sample * 200, sample + 1_000 / 10)
    assert scaled.lock - free.lock == pytest.approx(0.001 * pages)
    assert scaled.seconds - free.seconds == pytest.approx(0.001 * pages * 10)  # 10 batches


def test_a_schema_only_statement_writes_its_pages_unscaled(write_tree: WriteTree) -> None:
    _, runs = measured(write_tree, "ALTER TABLE readings ADD COLUMN unit TEXT;\n")
    (statement,) = runs[0].statements  # type: ignore[attr-defined]
    assert statement.constant and statement.writes == {"readings"} and statement.pages >= 1
    scales = Scales(stats(50_000, 250, 50), {"readings": 500}, {"readings": 6})
    (result,) = estimate(runs, scales, CommitCost(0.0, 0.001))  # type: ignore[arg-type]
    # the schema's page, not the table's 300 / 6 times
    assert result.seconds == pytest.approx(statement.seconds + 0.001 * statement.pages)
