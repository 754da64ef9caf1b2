"""Generate a large sample database for the worked example, at schema version 4.

    python schema/sample/generate.py --vitals 1000000 --out /tmp/monitor-1m.db
    python -m ci.apply_sample --sample /tmp/monitor-1m.db      # then check 0005-0007 on it
    python -m ci.migrate --db /tmp/monitor-1m.db               # or apply them for real

The schema comes from the migrations themselves: the script runs
`python -m ci.migrate --db OUT --target 4 --no-backup`, then inserts generated rows in ONE
transaction with `executemany` over generators, so memory stays flat whatever `--vitals` is.
The data looks like `sample_data.sql` at scale: a share of patients without an MRN yet (their
vitals keep patient_mrn NULL after 0005), ADT events in every spelling 0006 normalises, half
of the devices without a label for 0007. The same --seed gives the same database.

With `--sql` the rows are written as a `.sql` fixture (`-- @sample-version 4` first) instead.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "schema" / "migrations"
SAMPLE_VERSION = 4
START = datetime(2025, 11, 1, tzinfo=timezone.utc)
EVENT_SPELLINGS = {
    "A01": ("A01", "ADT^A01", "adt_a01", "a01 "),
    "A02": ("A02", "ADT^A02", " a02"),
    "A03": ("A03", "ADT_A03", " a03 "),
    "A08": ("A08", "ADT^A08"),
}
FIRST_NAMES = ("Amelia", "Bashir", "Chen", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines")
LAST_NAMES = ("Hart", "Okafor", "Wei", "Kowalski", "Demir", "Haddad", "Lund", "Sato", "Costa")

Row = tuple[object, ...]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def patients(rnd: random.Random, count: int, unmapped_share: float) -> Iterator[Row]:
    for pid in range(1, count + 1):
        created = START + timedelta(minutes=rnd.randrange(0, 60 * 24 * 30))
        mrn = None if rnd.random() < unmapped_share else f"MRN-{100000 + pid}"
        discharged = rnd.random() < 0.3
        yield (
            pid,
            mrn,
            rnd.choice(FIRST_NAMES) if mrn else "Unknown",
            rnd.choice(LAST_NAMES) if mrn else f"Patient-{pid}",
            f"{rnd.randrange(1930, 2005)}-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}",
            rnd.choice("FMXU"),
            stamp(created),
            "discharged" if discharged else "admitted",
            None if discharged else f"ICU-{pid % 40 + 1:02d}",
            stamp(created + timedelta(minutes=5)),
            stamp(created + timedelta(days=3)) if discharged else None,
            f"Contact {pid} +44 7700 900{pid % 1000:03d}" if rnd.random() < 0.5 else None,
        )


def admission_events(rnd: random.Random, patient_count: int) -> Iterator[Row]:
    event_id = 0
    for pid in range(1, patient_count + 1):
        moment = START + timedelta(minutes=rnd.randrange(0, 60 * 24 * 30))
        for code in ("A01", *rnd.sample(("A02", "A08", "A03"), rnd.randrange(0, 3))):
            event_id += 1
            moment += timedelta(hours=rnd.randrange(1, 48))
            yield (
                event_id,
                pid,
                rnd.choice(EVENT_SPELLINGS[code]),
                None if code == "A03" else f"ICU-{rnd.randrange(1, 41):02d}",
                stamp(moment),
                stamp(moment + timedelta(seconds=7)),
            )


def devices(rnd: random.Random, count: int) -> Iterator[Row]:
    for device_id in range(1, count + 1):
        labelled = rnd.random() < 0.5
        yield (
            device_id,
            f"ZM-{rnd.choice((4821, 5100))}-{device_id:05d}",
            rnd.choice(("Z Monitor 4821", "Z Monitor 5100")),
            f"ICU bedside {device_id}" if labelled else None,
            "user" if labelled and rnd.random() < 0.5 else None,
            stamp(START - timedelta(days=rnd.randrange(30, 900))),
        )


def telemetry_metrics(rnd: random.Random, device_count: int, per_device: int) -> Iterator[Row]:
    metric_id = 0
    for device_id in range(1, device_count + 1):
        for hour in range(per_device):
            metric_id += 1
            status = rnd.choices(("sent", "failed", "retried"), (90, 5, 5))[0]
            yield (
                metric_id,
                device_id,
                f"B-{device_id:05d}-{hour:04d}",
                stamp(START + timedelta(hours=hour, seconds=device_id % 60)),
                0 if status == "failed" else rnd.randrange(50, 600),
                None if status == "failed" else rnd.randrange(40, 400),
                status,
            )


def vitals(rnd: random.Random, count: int, patient_count: int) -> Iterator[Row]:
    # The hot loop of a million rows: random() and isoformat() are several times faster than
    # randrange() and strftime(), and this is where generate.py spends its time.
    rand = rnd.random
    start = START.replace(tzinfo=None)
    for vital_id in range(1, count + 1):
        yield (
            vital_id,
            int(rand() * patient_count) + 1,
            (start + timedelta(seconds=vital_id * 15)).isoformat() + "Z",
            int(rand() * 95) + 45,
            int(rand() * 15) + 86,
            int(rand() * 24) + 8,
            round(35.5 + rand() * 4.0, 1),
            int(rand() * 85) + 85,
            int(rand() * 60) + 45,
        )


TABLES: tuple[tuple[str, str], ...] = (
    (
        "patients",
        "patient_id, mrn, first_name, last_name, date_of_birth, sex, created_at, "
        "admission_status, bed_label, admitted_at, discharged_at, emergency_contact",
    ),
    ("admission_events", "event_id, patient_id, event_code, bed_label, occurred_at, received_at"),
    ("devices", "device_id, serial_number, model, device_label, label_source, installed_at"),
    (
        "telemetry_metrics",
        "metric_id, device_id, batch_id, sent_at, record_count, latency_ms, status",
    ),
    (
        "vitals",
        "vital_id, patient_id, recorded_at, heart_rate, spo2, resp_rate, temperature_c, "
        "systolic_bp, diastolic_bp",
    ),
)


def generated_rows(args: argparse.Namespace) -> Iterator[tuple[str, str, Iterable[Row]]]:
    """(table, column list, rows) in foreign-key order; rows are lazy generators."""
    rnd = random.Random(args.seed)
    device_count = max(1, args.patients // 4)
    sources: dict[str, Iterable[Row]] = {
        "patients": patients(rnd, args.patients, args.unmapped_share),
        "admission_events": admission_events(rnd, args.patients),
        "devices": devices(rnd, device_count),
        "telemetry_metrics": telemetry_metrics(rnd, device_count, 24),
        "vitals": vitals(rnd, args.vitals, args.patients),
    }
    for table, columns in TABLES:
        yield table, columns, sources[table]


def migrate_to_sample_version(db: Path) -> None:
    """Create the schema with the project's own runner, so it is exactly what 0001-0004 make."""
    command = [
        sys.executable,
        "-m",
        "ci.migrate",
        "--db",
        str(db),
        "--migrations-dir",
        str(MIGRATIONS),
        "--target",
        str(SAMPLE_VERSION),
        "--no-backup",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generate: ci.migrate failed ({done.returncode}):\n{done.stderr.strip()}")


@contextmanager
def indexes_built_afterwards(conn: sqlite3.Connection, table: str) -> Iterator[None]:
    """Drop the table's indexes for a bulk insert and recreate them from their own SQL.

    Building an index once over sorted keys is several times faster than updating it for each
    of a million random-order rows. The CREATE INDEX text is the one sqlite_master held, so
    the schema afterwards is exactly what the migrations made.
    """
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _, sql in indexes:
        conn.execute(sql)


def fill_database(db: Path, args: argparse.Namespace) -> dict[str, int]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        counts: dict[str, int] = {}
        for table, columns, rows in generated_rows(args):
            marks = ", ".join("?" * len(columns.split(",")))
            with indexes_built_afterwards(conn, table):
                cursor = conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            counts[table] = cursor.rowcount
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise SystemExit("generate: generated rows break a foreign key (a bug in generate.py)")
        conn.execute("COMMIT")
        return counts
    finally:
        conn.close()


def sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def write_sql(out: TextIO, args: argparse.Namespace) -> dict[str, int]:
    out.write(f"-- @sample-version {SAMPLE_VERSION}\n")
    out.write(f"-- Generated by schema/sample/generate.py --vitals {args.vitals} ")
    out.write(f"--patients {args.patients} --seed {args.seed}\n")
    counts: dict[str, int] = {}
    for table, columns, rows in generated_rows(args):
        counts[table] = 0
        for row in rows:
            values = ", ".join(sql_literal(v) for v in row)
            out.write(f"INSERT INTO {table} ({columns}) VALUES ({values});\n")
            counts[table] += 1
    return counts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python schema/sample/generate.py",
        description="Generate a large sample database (schema version 4) for the worked example.",
    )
    parser.add_argument("--vitals", type=int, default=100_000, help="vitals rows (default 100000)")
    parser.add_argument("--patients", type=int, default=1_000, help="patients (default 1000)")
    parser.add_argument("--out", type=Path, required=True, help="the .db (or .sql) to create")
    parser.add_argument("--seed", type=int, default=4, help="random seed (default 4)")
    parser.add_argument(
        "--unmapped-share",
        type=float,
        default=0.02,
        help="share of patients without an MRN yet (default 0.02)",
    )
    parser.add_argument("--sql", action="store_true", help="write a .sql fixture instead")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if args.vitals < 0 or args.patients < 1:
        parser.error("--vitals must be >= 0 and --patients >= 1")
    if not 0.0 <= args.unmapped_share <= 1.0:
        parser.error("--unmapped-share must be between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    if out.exists() and not args.force:
        print(f"generate: {out} exists; choose another --out or pass --force", file=sys.stderr)
        return 2
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    if args.sql:
        with out.open("w", encoding="utf-8", newline="\n") as handle:
            counts = write_sql(handle, args)
    else:
        migrate_to_sample_version(out)
        counts = fill_database(out, args)
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{table} {count:,}" for table, count in counts.items())
    print(f"{out}: schema version {SAMPLE_VERSION}; {summary} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
