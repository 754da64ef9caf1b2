"""ci.app.cli: what every check's face shares, called as the faces call it: the option types
(declared as data in ci.checks.options), the common parser, `parse` over the config file through
the options a check declares, `run_one` and `run_check`'s exit codes and one-line errors, the
`Collector` that `python -m ci` hands to each check, and `run_program` for a reader that leaves
early.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from ci.app import exits
from ci.app.cli import Collector, parse, run_check, run_declared, run_one
from ci.app.parsers import check_parser, parser_of
from ci.checks.base import Check
from ci.checks.options import Option, migration_number, seconds, whole_number
from ci.core.errors import UsageError
from ci.core.findings import Case, Finding, Report
from tests.conftest import REPO

PASSED = Report("numbering", [Case("all numbered", "numbering")])
FAILED = Report(
    "numbering",
    [Case("MG101", "numbering", findings=[Finding("numbering", "MG101", "a.sql", 1, "twice")])],
)


def raising(error: BaseException) -> Callable[[argparse.Namespace], Report]:
    """A check's work that fails with `error`."""

    def work(args: argparse.Namespace) -> Report:
        raise error

    return work


def test_seconds_are_numbers_not_below_zero() -> None:
    assert seconds("0") == 0.0 and seconds("2.5") == 2.5 and seconds("1e1") == 10.0
    for bad in ("-1", "nan", "soon", "\u0663"):  # U+0663: Arabic-Indic three, not ASCII
        with pytest.raises(argparse.ArgumentTypeError, match="expected seconds"):
            seconds(bad)


def test_whole_numbers_have_a_minimum_and_ascii_digits() -> None:
    jobs = whole_number("jobs", 1)
    assert jobs("4") == 4 and jobs("1_000") == 1000
    with pytest.raises(argparse.ArgumentTypeError, match="expected jobs >= 1, got '0'"):
        jobs("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number of jobs, got 'x'"):
        jobs("x")
    with pytest.raises(argparse.ArgumentTypeError):
        jobs("\u0663")


def test_migration_numbers_are_digits_only() -> None:
    assert migration_number("0007") == 7
    for bad in ("-1", "+3", "1_0", "\u0663", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a migration number"):
            migration_number(bad)


def test_the_common_options_and_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no migration-guard.yaml here
    args = parse(check_parser("numbering", "doc"), [])
    assert (args.files, args.migrations_dir, args.config, args.junit, args.format) == (
        [],
        Path("schema/migrations"),
        None,
        None,
        None,
    )
    assert args.set_in_config == {}


def test_an_argument_error_is_one_line_and_a_hint_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        parse(check_parser("numbering", None), ["--migrations", "m"])  # never guessed
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "python -m ci.numbering: error: unrecognized arguments: --migrations\n"
        "  (the options: python -m ci.numbering --help)\n"
    )


def test_config_values_are_defaults_the_command_line_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migration-guard.yaml").write_text("migrations_dir: db/m\nformat: github\n")
    args = parse(check_parser("numbering", None), ["--format", "text"])
    assert (args.migrations_dir, args.format) == (Path("db/m"), "text")
    assert args.set_in_config == {"migrations_dir": "migration-guard.yaml: migrations_dir"}


def test_a_bad_config_file_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migration-guard.yaml").write_text("no_such_key: 1\n")
    with pytest.raises(SystemExit) as stopped:
        parse(check_parser("numbering", None), [])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m ci.numbering: ") and "no_such_key" in err
    assert err.count("\n") == 1


def args_for(tmp_path: Path, *argv: str) -> argparse.Namespace:
    return check_parser("numbering", None).parse_args(
        ["--migrations-dir", str(tmp_path / "m"), *argv]
    )


def test_run_check_prints_the_report_and_exits_with_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_check("numbering", args_for(tmp_path), lambda args: PASSED) == 0
    assert "OK numbering: 1 passed" in capsys.readouterr().out
    assert run_check("numbering", args_for(tmp_path), lambda args: FAILED) == 1
    assert "a.sql:1: MG101 twice" in capsys.readouterr().out


def test_files_outside_the_migrations_skip_the_work(tmp_path: Path) -> None:
    args = args_for(tmp_path, str(tmp_path / "README.md"))
    assert run_check("numbering", args, raising(AssertionError("ran"))) == 0


def test_a_user_error_is_one_line_exit_2_and_an_error_case_in_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    refused = raising(UsageError("m: migrations directory not found"))
    assert run_check("numbering", args_for(tmp_path, "--junit", str(junit)), refused) == 2
    assert capsys.readouterr().err == "numbering: m: migrations directory not found\n"
    report = junit.read_text()
    assert "numbering could not run" in report and "<error" in report


def test_a_sqlite_error_names_the_database_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = raising(sqlite3.DatabaseError("database disk image is malformed"))
    assert run_check("numbering", args_for(tmp_path), damaged) == 2
    err = capsys.readouterr().err
    assert err == f"numbering: {tmp_path / 'm'}: SQLite error: database disk image is malformed\n"


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.QueryCanceled("canceling statement due to user request"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.DiskFull("could not extend file: No space left on device"),
        psycopg.OperationalError("consuming input failed: server closed the connection"),
    ],
    ids=["cancelled", "shut down", "disk full", "connection lost"],
)
def test_the_server_stopping_the_work_is_one_line_not_a_traceback(
    error: Exception, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the fingerprint reads and other queries of ours may meet on a real server (seen:
    a cancel from another session during a round trip's read): the server's doing, exit 2."""
    assert run_check("numbering", args_for(tmp_path), raising(error)) == 2
    err = capsys.readouterr().err
    assert err == f"numbering: PostgreSQL server: {error}; the work stopped before it finished: " \
        "run it again\n"  # fmt: skip


def test_a_query_of_ours_the_server_refuses_is_a_bug_with_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = raising(psycopg.errors.SyntaxError('syntax error at or near "SELEC"'))
    assert run_check("numbering", args_for(tmp_path), bad) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_crash_keeps_its_traceback_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    crash = raising(ZeroDivisionError("oops"))
    assert run_check("numbering", args_for(tmp_path, "--junit", str(junit)), crash) == 2
    captured = capsys.readouterr()
    assert "Traceback" in captured.err and "ZeroDivisionError: oops" in captured.err
    assert "internal error: ZeroDivisionError: oops" in junit.read_text()  # an <error> case


def test_ctrl_c_is_one_line_and_exit_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_check("numbering", args_for(tmp_path), raising(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "numbering: interrupted\n"


def test_a_collector_is_handed_the_reports_instead_of_printing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collector = Collector()
    assert run_check("numbering", args_for(tmp_path), lambda args: FAILED, collector) == 1
    refused = raising(UsageError("bad input"))
    assert run_check("lint", args_for(tmp_path), refused, collector) == 2
    assert run_check("checksums", args_for(tmp_path, "README.md"), refused, collector) == 0
    assert capsys.readouterr() == ("", "")  # said once at the end by python -m ci, not here
    assert [r.check for r in collector.reports] == ["numbering", "lint", "checksums"]
    assert collector.reports[0] is FAILED
    assert collector.reports[1].cases[0].error == "bad input"
    assert collector.reports[2].cases[0].skipped == "no migration changed"
    assert collector.errors == [("lint", "bad input")]
    with pytest.raises(KeyboardInterrupt):  # stops every check, not just one
        run_check("numbering", args_for(tmp_path), raising(KeyboardInterrupt()), Collector())


def test_a_collector_s_options_and_config_are_the_aggregate_run_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # python -m ci found the config file, not the check
    config = tmp_path / "elsewhere.yaml"
    config.write_text("migrations_dir: db/m\nformat: github\nnumbering:\n  jobs: 3\n")
    collector = Collector({"jobs": 5, "not_this_check_s": True}, config)
    args = parse(parser_of(declared_check(lambda args: PASSED)), [], collector)
    assert (args.migrations_dir, args.format, args.jobs) == (Path("db/m"), "github", 5)
    assert not hasattr(args, "not_this_check_s")
    assert args.set_in_config == {
        "migrations_dir": f"{config}: migrations_dir",
        "format": f"{config}: format",
    }  # jobs came from the aggregate run's command line, not from the file
    assert run_declared(declared_check(lambda args: FAILED), args, collector) == 1
    assert collector.reports == [FAILED]
    assert capsys.readouterr() == ("", "")


def declared_check(
    work: Callable[[argparse.Namespace], Report],
    narrow: Callable[[argparse.Namespace], None] | None = None,
) -> Check:
    """A check as ci/checks/<check>.py declares one: its own option as data, and its work."""
    jobs = Option("--jobs", type=whole_number("jobs", 1), default=1, help="parallel jobs")
    return Check("numbering", "doc", (jobs,), work, narrow=narrow)


def test_run_one_parses_the_declared_options_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migration-guard.yaml").write_text("jobs: 2\nnumbering:\n  jobs: 3\n")
    seen: list[argparse.Namespace] = []

    def work(args: argparse.Namespace) -> Report:
        seen.append(args)
        return PASSED

    assert run_one(declared_check(work), []) == exits.CLEAN
    assert run_one(declared_check(work), ["--jobs", "4"]) == exits.CLEAN
    (config_s, command_line_s) = seen
    assert config_s.jobs == 3  # the check's section wins over the top level
    assert config_s.set_in_config == {"jobs": "migration-guard.yaml: jobs"}
    assert (command_line_s.jobs, command_line_s.set_in_config) == (4, {})


def test_run_one_refuses_a_bad_declared_value_in_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    never = declared_check(raising(AssertionError("ran")))
    with pytest.raises(SystemExit) as stopped:
        run_one(never, ["--jobs", "0"])
    assert stopped.value.code == exits.COULD_NOT_RUN
    assert capsys.readouterr().err == (
        "python -m ci.numbering: error: argument --jobs: expected jobs >= 1, got '0'\n"
        "  (the options: python -m ci.numbering --help)\n"
    )
    (tmp_path / "migration-guard.yaml").write_text("numbering:\n  jobs: 0\n")
    with pytest.raises(SystemExit) as stopped:
        run_one(never, [])
    assert stopped.value.code == exits.COULD_NOT_RUN
    assert capsys.readouterr().err == (
        "python -m ci.numbering: migration-guard.yaml: jobs: "
        "invalid value 0: expected jobs >= 1, got '0'\n"
    )


def test_run_one_exit_codes_and_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_one(declared_check(lambda args: PASSED), []) == exits.CLEAN == 0
    assert "OK numbering: 1 passed" in capsys.readouterr().out
    assert run_one(declared_check(lambda args: FAILED), []) == exits.FINDINGS == 1
    assert "a.sql:1: MG101 twice" in capsys.readouterr().out
    refused = declared_check(raising(UsageError("m: migrations directory not found")))
    assert run_one(refused, []) == exits.COULD_NOT_RUN == 2
    assert capsys.readouterr().err == "numbering: m: migrations directory not found\n"
    interrupted = declared_check(raising(KeyboardInterrupt()))
    assert run_one(interrupted, []) == exits.INTERRUPTED == 130
    assert capsys.readouterr().err == "numbering: interrupted\n"


def test_a_path_from_the_config_file_is_named_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migration-guard.yaml").write_text("migrations_dir: db/m\n")
    refused = declared_check(raising(UsageError("db/m: migrations directory not found")))
    assert run_one(refused, []) == 2
    assert capsys.readouterr().err == (
        "numbering: migration-guard.yaml: migrations_dir: db/m: migrations directory not found\n"
    )


def test_narrow_runs_before_the_files_shortcut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def keep_every_file(args: argparse.Namespace) -> None:
        args.files = []  # as checksums does when the lock file is among FILES

    outside = str(tmp_path / "README.md")
    assert run_one(declared_check(lambda args: FAILED), [outside]) == 0  # skipped, not run
    assert run_one(declared_check(lambda args: FAILED, keep_every_file), [outside]) == 1


def test_a_reader_that_leaves_early_is_no_error() -> None:
    program = (
        "from ci.app.program import run_program\n"
        "def main():\n"
        "    for n in range(100_000):\n"
        "        print('line', n)\n"
        "    return 3\n"
        "raise SystemExit(run_program(main))\n"
    )
    done = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -c "$PROGRAM" | head -1; exit "${{PIPESTATUS[0]}}"'],
        cwd=REPO,
        env={"PROGRAM": program, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "line 0\n", "")
