"""Measure the runner and the checks on PostgreSQL, side by side with psql doing the same SQL, and
write bench/RESULTS-postgresql.md and the PostgreSQL section of bench/RESULTS.md.

    python bench/pg.py            # the full run: 1,000 migrations (about 10 minutes on 2 cores)
    python bench/pg.py --quick    # a smoke run (20 migrations, one repeat), into a temp dir

Measured as bench/run.py measures SQLite (its process runner and rotation are reused): whole
processes, subject, baseline and floor run together in one rotation after one untimed warm-up,
medians, the ratio the median of each repeat's ratio, the machine and its load recorded. Each
run that applies migrations starts on a fresh database (`mgbench_...`, created untimed; every one
is dropped at the end, bench/pg_server.py). The corpus is bench/pg_corpus.py's.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import machine
import pg_corpus
import pg_results
import psycopg
import results
import run
from corpus import Corpus
from pg_server import Server, database_url, default_url
from rows import ON_FLOOR, Row
from run import PY, Command, RunFailed

from ci.checks.roundtrip_jobs import default_jobs

PSQL = shutil.which("psql") or "psql"
# no ~/.psqlrc, quiet, the whole file in one transaction, stop (and roll back) at the first error
PSQL_ONE_TRANSACTION = [PSQL, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1"]
# the least a Python tool must do for --status: start, list the track folders, connect, read
# the runner's table once, print the counts
STATUS_FLOOR = """\
import os, sys, psycopg
root, url = sys.argv[1:]
files = {t: [f for d in ds for f in os.listdir(os.path.join(root, d)) if f.endswith('.sql')]
         for t, ds in (('main', ('schema', 'data')), ('seed', ('seed',)))}
with psycopg.connect(url) as c:
    rows = c.execute("SELECT migration_type = 'seed', count(*) FROM schema_version GROUP BY 1")
    applied = {('seed' if seed else 'main'): n for seed, n in rows}
for track, names in files.items():
    print(f"{track}: {applied.get(track, 0)} applied, {len(names) - applied.get(track, 0)} pending")
"""
JOBS = default_jobs()  # ours' default --jobs: the round trip's floor splits its work as ours
CONNECT = "import psycopg, sys; psycopg.connect(sys.argv[1]).close()"
# bench/pg_floor.py imported, not run as a script, so that it starts from cached bytecode as
# ours does (as bench/run.py runs bench/floor.py)
PG_FLOOR = [
    PY,
    "-c",
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import pg_floor;"
    " raise SystemExit(pg_floor.main(sys.argv[1:]))",
]


@dataclass
class PgBench:
    server: Server
    work: Path
    n: int
    repeats: int
    heavy_repeats: int
    round_trip_repeats: int
    rows: list[Row] = field(default_factory=list)
    commands: list[tuple[str, list[str]]] = field(default_factory=list)  # for "reproduce"
    corpus: Corpus | None = None

    # -- the corpus and its scripts ---------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.work / "migrations"

    @property
    def single_sql(self) -> Path:
        return self.work / "one_transaction.sql"

    @property
    def per_file_script(self) -> Path:
        return self.work / "psql_per_file.sh"

    @property
    def order_file(self) -> Path:
        return self.work / "apply_order.txt"

    def write_corpus(self) -> Corpus:
        """The migrations, one file of all of them (main track, then seeds) for ONE psql, and a
        shell script running `psql -1 -f` once per file, in the same order."""
        corpus = pg_corpus.write_corpus(self.root, self.n)
        self.single_sql.write_text(corpus.concatenated_sql(), encoding="utf-8")
        psql = shlex.join(PSQL_ONE_TRANSACTION)
        self.per_file_script.write_text(
            "set -e\n" + "".join(f'{psql} -d "$1" -f {shlex.quote(str(p))}\n'
                                 for p in corpus.apply_order),
            encoding="utf-8",
        )  # fmt: skip
        self.order_file.write_text("".join(f"{p}\n" for p in corpus.apply_order), encoding="utf-8")
        self.corpus = corpus
        return corpus

    # -- commands ---------------------------------------------------------------------------------

    def url(self, role: str) -> str:
        return database_url(self.server.url, self.server.name(role))

    def fresh(self, role: str) -> Callable[[], None]:
        """Before each run (untimed): this role's database, empty."""

        def recreate() -> None:
            self.server.fresh(role)

        return recreate

    def command(
        self,
        what: str,
        argv: list[str],
        prepare: Callable[[], None] | None = None,
        shown: list[str] | None = None,
    ) -> Command:
        """A measured command, remembered (as `shown`, when given) for the results' list."""
        self.commands.append((what, shown or argv))
        return Command(argv, cwd=self.work, prepare=prepare)

    def migrate(self) -> Command:
        argv = [PY, "-m", "ci.migrate", "--database-url", self.url("migrate"),
                "--migrations-dir", str(self.root)]  # fmt: skip
        return self.command("ci.migrate", argv, prepare=self.fresh("migrate"))

    def psql_single(self, role: str) -> Command:
        argv = [*PSQL_ONE_TRANSACTION, "-d", self.url(role), "-f", str(self.single_sql)]
        return self.command("one psql, ONE transaction", argv, prepare=self.fresh(role))

    def psql_per_file(self) -> Command:
        argv = ["sh", str(self.per_file_script), self.url("per_file")]
        return self.command("psql -1 -f per file", argv, prepare=self.fresh("per_file"))

    def python_floor(self, mode: str = "", *extra: str) -> Command:
        """bench/pg_floor.py: the bare loop, or a check's floor (`mode`: its own database)."""
        args = [mode, str(self.order_file), self.server.url, *extra]
        if not mode:
            args = [str(self.order_file), self.url("python_floor")]
        return self.command(
            f"the floor of a check ({mode})" if mode else "the bare Python loop",
            [*PG_FLOOR, *args], prepare=None if mode else self.fresh("python_floor"),
            shown=["python", "bench/pg_floor.py", *args],
        )  # fmt: skip

    def check(self, module: str) -> Command:
        argv = [PY, "-m", f"ci.{module}", "--engine", "postgresql",
                "--server-url", self.server.url, "--migrations-dir", str(self.root)]  # fmt: skip
        return self.command(f"ci.{module}", argv)

    def status_commands(self) -> tuple[Command, Command, Command]:
        """ci.migrate --status, the connect baseline and the status floor, on a database with
        the whole corpus applied (applied once here, untimed, by ci.migrate)."""
        url = self.server.fresh("status")
        applied = run.run_process(
            [PY, "-m", "ci.migrate", "--database-url", url, "--migrations-dir", str(self.root)],
            cwd=self.work,
        )
        if applied.returncode != 0:
            raise RunFailed(f"could not apply the corpus: {last_line(applied.output)}")
        status = [PY, "-m", "ci.migrate", "--database-url", url, "--migrations-dir",
                  str(self.root), "--status"]  # fmt: skip
        return (
            self.command("ci.migrate --status", status),
            self.command("connect baseline", [PY, "-c", CONNECT, url]),
            self.command("status floor", [PY, "-c", STATUS_FLOOR, str(self.root), url]),
        )

    # -- rows -------------------------------------------------------------------------------------

    def run_rows(self) -> None:
        n = f"{self.n:,}"
        self.rows = [self.migrate_row(n), self.python_floor_row(n), self.apply_empty_row(n)]
        self.rows += [self.roundtrip_row(n), self.status_row(n)]

    def migrate_row(self, n: str) -> Row:
        row = Row(
            f"`ci.migrate --database-url`, {n} migrations, a fresh database",
            "one `psql -1 -f` of everything, ONE transaction (context)",
            "<= 1.1x ours / floor", 1.1, ON_FLOOR, floor="`psql -1 -f` per file",
        )  # fmt: skip
        return run.ratio_row(
            row, self.migrate(), self.psql_single("single_migrate"), self.heavy_repeats,
            module="ci.migrate", floor=self.psql_per_file(),
        )  # fmt: skip

    def python_floor_row(self, n: str) -> Row:
        """Context, no budget: ours against the bare loop of any Python runner that keeps a
        row and a transaction per migration (what SQLite's runner budget is stated against)."""
        row = Row(
            f"`ci.migrate --database-url`, {n} migrations, against the bare Python loop",
            "`bench/pg_floor.py`: per file BEGIN, the file, its row, COMMIT (psycopg)",
            "none (context)",
        )  # fmt: skip
        run.ratio_row(row, self.migrate(), self.python_floor(), self.heavy_repeats,
                      module="ci.migrate")  # fmt: skip
        if row.result == "n/a":
            row.result = "context"
        return row

    def apply_empty_row(self, n: str) -> Row:
        row = Row(
            f"`ci.apply_empty --engine postgresql` on {n} migrations",
            "one `psql -1 -f` of everything, ONE transaction", "<= 1.5x", 1.5,
            floor="`pg_floor.py --check`: make a database, one query per migration, drop it",
        )  # fmt: skip
        subject = self.check("apply_empty")
        if not_measured(row, subject):
            return row
        baseline = self.psql_single("single_apply")
        floor = warm_floor(row, self.python_floor("--check"))
        # warm: the check and the floor ran just now; psql is not Python, its files are cached
        return run.ratio_row(
            row, subject, baseline, self.heavy_repeats, module="ci.apply_empty", warm_up=False,
            floor=floor,
        )  # fmt: skip

    def roundtrip_row(self, n: str) -> Row:
        row = Row(
            f"`ci.rollback_roundtrip --engine postgresql` on {n} migrations",
            "`ci.apply_empty --engine postgresql` on the same corpus", "<= 5x", 5.0,
            floor=f"`pg_floor.py --round-trip`: apply, roll back, apply; as ours, {JOBS} jobs",
        )  # fmt: skip
        subject, baseline = self.check("rollback_roundtrip"), self.check("apply_empty")
        if not_measured(row, subject) or not_measured(row, baseline, "its baseline: "):
            return row
        floor = warm_floor(row, self.python_floor("--round-trip", str(JOBS)))
        # all ran once just now (the round trip takes minutes: no second warm-up)
        return run.ratio_row(
            row, subject, baseline, self.round_trip_repeats, module="ci.rollback_roundtrip",
            warm_up=False, floor=floor,
        )  # fmt: skip

    def status_row(self, n: str) -> Row:
        row = Row(
            f"`ci.migrate --status --database-url`, {n} applied",
            '`python -c "import psycopg; psycopg.connect(URL)"`', "<= 2x", 2.0,
            floor="Python: list the folders, read `schema_version` once",
        )  # fmt: skip
        try:
            subject, baseline, floor = self.status_commands()
        except RunFailed as error:
            row.result, row.note = "ERROR", str(error)
            return row
        return run.ratio_row(row, subject, baseline, self.repeats, module="ci.migrate", floor=floor)


def last_line(output: str) -> str:
    """The message a failed command ends with (its last unindented line: an indented one is a
    hint under it, such as argparse's "(the options: ...)"), at most 200 characters."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    messages = [line for line in lines if not line[0].isspace()] or lines
    return messages[-1][:200] if messages else "(no output)"


def not_measured(row: Row, command: Command, prefix: str = "") -> bool:
    """Run `command` once (untimed: also its warm-up); when it fails, mark the row "not
    measured" with the line it printed and say True."""
    try:
        sample = run.run_process(command.argv, cwd=command.cwd)
    except RunFailed as error:  # it ran, too long: an error of the row, not "cannot run yet"
        row.result, row.note = "ERROR", f"{prefix}{error}"
        return True
    if sample.returncode == 0:
        return False
    row.result = "not measured"
    row.note = f"{prefix}exit {sample.returncode}: {last_line(sample.output)}"
    return True


def warm_floor(row: Row, floor: Command) -> Command | None:
    """A check's floor, run once untimed (its warm-up); None, the row saying why, if it failed."""
    sample = run.run_process(floor.argv, cwd=floor.cwd)
    if sample.returncode == 0:
        return floor
    row.floor = f"{row.floor} (failed, not measured: {last_line(sample.output)})"
    return None


def at_least_one(text: str) -> int:
    """A repeat count: a row measured no time has no median to report."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--server-url", default=None, help="the server to measure on (default: "
        f"$MIGRATION_GUARD_TEST_PG or {default_url()}); the bench makes and drops mgbench_* "
        "databases there")  # fmt: skip
    add("--quick", action="store_true", help="tiny sizes, one repeat (smoke run)")
    add("--n", type=int, default=None, help="migrations in the corpus (1000)")
    add("--repeats", type=at_least_one, default=None, help="repeats of the --status row (5)")
    add("--heavy-repeats", type=at_least_one, default=None, help="repeats of rows that apply (3)")
    add("--round-trip-repeats", type=at_least_one, default=1, help="repeats of the round trip "
        "row (1: minutes per run at 1,000 migrations)")  # fmt: skip
    add("--results", type=Path, default=None, help="the full results (default: "
        "bench/RESULTS-postgresql.md; with --quick a temp file)")  # fmt: skip
    add("--summary", type=Path, default=None, help="the file whose PostgreSQL section is "
        "rewritten (default: bench/RESULTS.md; with --quick a temp file)")  # fmt: skip
    add("--work", type=Path, default=None, help="scratch dir, kept (default: a temp dir)")
    add("--timeout", type=float, default=1800.0, help="seconds one process may take (1800)")
    return parser.parse_args(argv)


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """Where the full results and the summary go: a smoke run never writes the committed ones."""
    folder = run.REPO / "bench"
    if args.quick and (args.results is None or args.summary is None):
        folder = Path(tempfile.mkdtemp(prefix="mg-bench-pg-quick-"))
        print(f"bench/pg.py: a smoke run (--quick) writes into {folder}, not bench/",
              file=sys.stderr)  # fmt: skip
    full = args.results or folder / "RESULTS-postgresql.md"
    return full, args.summary or folder / "RESULTS.md"


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so that `finally` drops the bench's databases


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(given)
    # one process's limit: the round trip on 1,000 PostgreSQL migrations takes minutes
    run.TIMEOUT = args.timeout
    target, summary = output_paths(args)
    try:
        results.kept_regions(summary)  # a broken marker stops the run now, not in 10 minutes
    except results.RegionError as error:
        print(f"bench/pg.py: {error}", file=sys.stderr)
        return 2
    try:
        server = Server(args.server_url or default_url())
    except psycopg.Error as error:  # one line, "could not run"
        print(f"bench/pg.py: cannot reach the server: {last_line(str(error))}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    left = server.drop_leftovers()
    if left:
        print(f"bench/pg.py: dropped databases left by benches that did not finish: "
              f"{', '.join(left)}", file=sys.stderr)  # fmt: skip
    work = (args.work or Path(tempfile.mkdtemp(prefix="mg-bench-pg-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bench = PgBench(
        server, work, n=args.n or (20 if args.quick else 1000),
        repeats=args.repeats or (1 if args.quick else 5),
        heavy_repeats=args.heavy_repeats or (1 if args.quick else 3),
        round_trip_repeats=args.round_trip_repeats,
    )  # fmt: skip
    start = machine.Snapshot.now()
    warning = machine.load_warning(start)
    if warning:
        print(f"bench/pg.py: warning: {warning}", file=sys.stderr)
    started = time.perf_counter()
    try:
        bench.write_corpus()
        bench.run_rows()
        facts = server.facts()
    finally:
        left = server.drop_ours()
        if left:
            print(f"bench/pg.py: could not drop {', '.join(left)}; the next run drops them",
                  file=sys.stderr)  # fmt: skip
        server.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    run_facts = pg_results.RunFacts(
        command=shlex.join(["python", "bench/pg.py", *given]),
        elapsed=time.perf_counter() - started,
        snapshots=(start, machine.Snapshot.now()),
        server=facts,
    )
    text = pg_results.render(bench, run_facts)
    results.write(target, text)
    pg_results.write_section(summary, pg_results.section(bench, run_facts, target, summary))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
