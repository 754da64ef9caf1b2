"""How a command ends as a program (ci.app.program.run_program): it skips the interpreter's
teardown only when nothing would be lost: all its output arrives, its exit code stays, and exit
handlers, other threads and profilers get their ending. Real processes, real pipes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_as_program(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`body` defines main(); it runs through run_program in a fresh interpreter."""
    program = textwrap.dedent(body) + "\nraise SystemExit(run_program(main))\n"
    return subprocess.run(
        [sys.executable, *args, "-c", "from ci.app.program import run_program\n" + program],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# An object the interpreter's teardown finalizes: its line appears only when the teardown ran.
TEARDOWN_WITNESS = """
import sys
class Witness:
    def __del__(self):
        sys.__stderr__.write("teardown ran\\n")
WITNESS = Witness()
"""


def test_every_line_arrives_and_the_exit_code_stays_when_the_teardown_is_skipped() -> None:
    done = run_as_program(
        TEARDOWN_WITNESS
        + """
def main():
    for n in range(100_000):
        print("line", n)
    print("last words", file=sys.stderr, end="")
    return 1
"""
    )
    lines = done.stdout.splitlines()
    assert (done.returncode, len(lines), lines[-1]) == (1, 100_000, "line 99999")
    assert done.stderr == "last words"  # no "teardown ran": nothing was left to do


def test_an_exit_handler_still_runs() -> None:
    done = run_as_program(
        TEARDOWN_WITNESS
        + """
import atexit
def main():
    atexit.register(lambda: print("handler ran"))
    return 0
"""
    )
    assert (done.returncode, done.stdout) == (0, "handler ran\n")
    assert "teardown ran" in done.stderr


def test_a_thread_still_running_is_waited_for() -> None:
    done = run_as_program(
        """
import threading, time
def late():
    time.sleep(0.3)
    print("thread finished", flush=True)
def main():
    threading.Thread(target=late).start()
    return 1
"""
    )
    assert (done.returncode, done.stdout) == (1, "thread finished\n")


def test_a_profiler_still_reports(tmp_path: Path) -> None:
    profile = tmp_path / "profile.out"
    script = tmp_path / "command.py"
    script.write_text(
        "from ci.app.program import run_program\n"
        "def main():\n"
        "    return 0\n"
        "raise SystemExit(run_program(main))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), str(script)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0


def test_migrate_runs_a_setup_modules_exit_handler(tmp_path: Path) -> None:
    """A user's --setup module may register its own exit handler: the command ends normally."""
    migrations = tmp_path / "migrations"
    (migrations / "schema").mkdir(parents=True)
    (migrations / "schema" / "0001_start.sql").write_text(
        "-- @irreversible a test\nCREATE TABLE t (id INTEGER);\n", encoding="utf-8"
    )
    marker = tmp_path / "handler-ran"
    (tmp_path / "user_setup.py").write_text(
        "import atexit, pathlib\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "def on_connect(conn):\n"
        "    pass\n",
        encoding="utf-8",
    )
    command = ["-m", "ci.migrate", "--db", str(tmp_path / "app.db"), "--migrations-dir"]
    command += [str(migrations), "--setup", "user_setup:on_connect"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{tmp_path}", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0001_start.sql" in done.stdout
    assert marker.read_text(encoding="utf-8") == "yes"


def test_a_closed_stdout_is_one_line_and_exit_2_before_any_work(tmp_path: Path) -> None:
    """`>&-` (some supervisors start jobs so): the report could go nowhere, so nothing runs."""
    migrations = tmp_path / "m"
    (migrations / "schema").mkdir(parents=True)
    (migrations / "schema" / "0001_a.sql").write_text("CREATE TABLE t (i INTEGER);\n")
    database = tmp_path / "app.db"
    command = f"exec {sys.executable} -m ci.migrate --db {database} --migrations-dir {migrations}"
    done = subprocess.run(
        ["sh", "-c", command + " >&-"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: stdout is closed, so the report could not be written; nothing was done "
        "(give the command a stdout, e.g. > /dev/null)\n"
    )
    assert not database.exists()  # no work: not even the database file


def test_a_ctrl_c_after_the_work_is_done_changes_nothing() -> None:
    """A Ctrl-C that lands while the last output is flushed (seen by a hostile tester: a
    traceback, or exit -2 after 'OK'): the work was done and said, its exit code stays."""
    done = run_as_program(
        """
import ci.app.program as program

def interrupted(code):
    raise KeyboardInterrupt  # as a SIGINT arriving during the final flush

def main():
    print("OK: database at 0007")
    program._with_report_said = interrupted
    return 0
"""
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "OK: database at 0007\n", "")


def test_a_ctrl_c_during_the_ending_of_a_command_process_changes_nothing() -> None:
    """What runs after the work (an exit handler, the wait for a helper thread: ~250 ms after a
    PostgreSQL check) once ended in a SIGINT death, exit -2 after the OK line."""
    program = textwrap.dedent(
        """
        import atexit, os, signal, sys, time
        from ci.app.program import run_as_process

        def ending():  # keeps the interpreter's ending (no early exit), then gets a Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)

        def main():
            atexit.register(ending)
            print("OK apply_empty: 5 passed")
            return 1

        raise SystemExit(run_as_process(main))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, env={"PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (1, "OK apply_empty: 5 passed\n", "")
