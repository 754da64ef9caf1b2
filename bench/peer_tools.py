"""The peers of bench/peers.py: where each is found or how it is installed, its layout of the
generated corpus, and its apply and status commands.

A peer that is neither found nor installable raises Skip with the one line that says why.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import corpus
from run import Command, RunFailed

INSTALL_TIMEOUT = 600.0  # seconds for one install step (apt-get, npm, pip, go install)
GO_MIGRATE = "github.com/golang-migrate/migrate/v4/cmd/migrate@v4.20.1"


class Skip(Exception):
    """This peer cannot run here; the message is the one line that says why."""


@dataclass(frozen=True)
class Migration:
    """One corpus migration as every peer sees it: apply order, name, SQL, rollback SQL."""

    number: int
    slug: str
    sql: str
    rollback: str | None  # None for a seed: the corpus has no rollback for those

    @property
    def stem(self) -> str:
        return f"{self.number:04d}_{self.slug}"


def migrations_of(written: corpus.Corpus) -> list[Migration]:
    """Main track, then the seeds as ordinary migrations numbered after it (no peer has tracks)."""
    result = []
    for number, path in enumerate(written.apply_order, start=1):
        rollback = written.rollbacks[number - 1] if number <= len(written.main) else None
        result.append(
            Migration(
                number,
                path.stem.split("_", 1)[1],
                path.read_text(encoding="utf-8"),
                rollback.read_text(encoding="utf-8") if rollback else None,
            )
        )
    return result


def quiet(argv: Sequence[str], *, timeout: float = INSTALL_TIMEOUT, **env: str) -> str:
    """Run an install or probe step; its last output line is the Skip reason when it fails."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, **env},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Skip(f"`{' '.join(argv[:3])}` failed: {error}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise Skip(f"`{' '.join(argv[:3])}` exited {done.returncode}: {lines[-1][-160:]}")
    return done.stdout.strip()


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise Skip("not root, so apt-get cannot install " + " ".join(packages))
    try:
        quiet(["apt-get", "install", "-y", "-q", *packages], DEBIAN_FRONTEND="noninteractive")
    except Skip:  # an old package list: update it once and try again
        quiet(["apt-get", "update", "-q"])
        quiet(["apt-get", "install", "-y", "-q", *packages], DEBIAN_FRONTEND="noninteractive")


def fresh(*paths: Path) -> Callable[[], None]:
    """Remove database files (and their journals) before a run; a folder is emptied."""

    def remove() -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
                path.mkdir()
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    return remove


def sync_calls(command: Command, strace: str, log: Path) -> int:
    """fsync and fdatasync calls made by one untimed run of the command, counting every
    process it starts (sqitch runs the sqlite3 CLI per change)."""
    argv = [strace, "-f", "-c", "-o", str(log), "-e", "trace=fsync,fdatasync", *command.argv]
    Command(argv, cwd=command.cwd, prepare=command.prepare, ok=command.ok).run()
    return strace_calls(log.read_text(encoding="utf-8"))


def strace_calls(summary: str) -> int:
    """The calls column of `strace -c`'s summary, summed over fsync and fdatasync (columns:
    % time, seconds, usecs/call, calls, errors, syscall; errors may be blank)."""
    total = 0
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in ("fsync", "fdatasync"):
            total += int(fields[3])
    return total


def corpus_schema(db: Path) -> tuple[list[tuple[str, str, str]], int]:
    """The corpus's own objects (not any tool's bookkeeping) and the seeds' rows."""
    conn = sqlite3.connect(db)
    try:
        objects = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name = 'settings' OR name GLOB 't_*'"
            " OR name GLOB 'idx_t_*' OR name GLOB 'trg_t_*' ORDER BY name"
        ).fetchall()
        (settings,) = conn.execute("SELECT count(*) FROM settings").fetchone()
    except sqlite3.Error as error:
        raise RunFailed(f"{db}: {error}") from None
    finally:
        conn.close()
    return objects, settings


def same_schema(ours: Path, theirs: Path) -> None:
    """A peer that applied less (or something else) must not look fast: compare the results."""
    mine, peer = corpus_schema(ours), corpus_schema(theirs)
    if mine != peer:
        raise RunFailed(
            f"{theirs}: the peer's database differs from ours ({len(peer[0])} objects and"
            f" {peer[1]} settings rows against {len(mine[0])} and {mine[1]})"
        )


# --- the peers -----------------------------------------------------------------------------------


@dataclass
class Peer:
    """One peer tool: where it is, its layout of the corpus, its apply and status commands."""

    name: str
    tools: Path  # scratch folder for what --install puts here
    home: Path = Path()  # the peer's project folder (its layout of the corpus)
    binary: str = ""
    version: str = ""
    invocation: str = ""  # how it is run, for the notes

    def locate(self, install: bool) -> None:
        raise NotImplementedError

    def write_layout(self, migrations: list[Migration]) -> None:
        raise NotImplementedError

    def apply(self, db: Path) -> Command:
        raise NotImplementedError

    def status(self, db: Path) -> Command:
        raise NotImplementedError

    def databases(self, db: Path) -> list[Path]:
        """Files a fresh apply must not find (the peer's own registry files too)."""
        return [db]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def durable_variants(self) -> list[Peer]:
        """The ways of running this peer that the durable-apply rows compare against."""
        return [self]

    def _found(self, *candidates: Path | str | None) -> str | None:
        for candidate in candidates:
            if candidate and (found := shutil.which(str(candidate))):
                return found
        return None


@dataclass
class Dbmate(Peer):
    # mattn/go-sqlite3 opens with synchronous=NORMAL unless the URL says otherwise: its durable
    # rows are also measured with `?_sync=FULL`, SQLite's default and ours (equal durability)
    sync: str = ""

    @property
    def label(self) -> str:
        return super().label + (f" (synchronous={self.sync})" if self.sync else "")

    def durable_variants(self) -> list[Peer]:
        return [self, dataclasses.replace(self, sync="FULL")]

    def locate(self, install: bool) -> None:
        local = self.tools / "npm" / "node_modules" / "@dbmate" / "linux-x64" / "bin" / "dbmate"
        if install and not self._found(local, "dbmate"):
            if not shutil.which("npm"):
                raise Skip("npm is not installed")
            quiet(["npm", "install", "--prefix", str(self.tools / "npm"), "@dbmate/linux-x64"])
        found = self._found(local, "dbmate")
        if not found:
            raise Skip("not on PATH (--install gets npm's @dbmate/linux-x64)")
        self.binary = found
        self.version = quiet([found, "--version"]).replace("dbmate version ", "")
        self.invocation = (
            "`dbmate --url sqlite:DB --migrations-dir DIR --no-dump-schema up` / `status`; its"
            " synchronous=FULL variant with `--url sqlite:DB?_sync=FULL`"
        )

    def write_layout(self, migrations: list[Migration]) -> None:
        for m in migrations:
            down = m.rollback or "-- a seed: no rollback\n"
            text = f"-- migrate:up\n{m.sql}\n-- migrate:down\n{down}"
            (self.home / f"{m.stem}.sql").write_text(text, encoding="utf-8")

    def _argv(self, db: Path, verb: str) -> list[str]:
        # --no-dump-schema: the default also writes db/schema.sql through the sqlite3 CLI after
        # `up`, work we do not do; leaving it out only makes dbmate faster.
        url = f"sqlite:{db}" + (f"?_sync={self.sync}" if self.sync else "")
        return [self.binary, "--url", url, "--migrations-dir", str(self.home), "--no-dump-schema",
                verb]  # fmt: skip

    def apply(self, db: Path) -> Command:
        return Command(self._argv(db, "up"), cwd=self.home, prepare=fresh(db))

    def status(self, db: Path) -> Command:
        return Command(self._argv(db, "status"), cwd=self.home)


class Yoyo(Peer):
    def locate(self, install: bool) -> None:
        venv = self.tools / "yoyo-venv"
        local = venv / "bin" / "yoyo"
        if install and not self._found(local, "yoyo"):
            quiet([sys.executable, "-m", "venv", "--clear", str(venv)])
            quiet([str(venv / "bin" / "pip"), "install", "-q", "yoyo-migrations"])
        found = self._found(local, "yoyo")
        if not found:
            raise Skip("not on PATH (--install gets PyPI's yoyo-migrations into a scratch venv)")
        self.binary = found
        python = Path(found).parent / "python"
        probe = "import importlib.metadata as m; print(m.version('yoyo-migrations'))"
        self.version = quiet([str(python), "-c", probe]) if python.exists() else "unknown"
        self.invocation = (
            "`yoyo apply --no-config-file --batch --database sqlite:///DB DIR` / `list`"
        )

    def write_layout(self, migrations: list[Migration]) -> None:
        for m in migrations:
            (self.home / f"{m.stem}.sql").write_text(m.sql, encoding="utf-8")
            if m.rollback:
                (self.home / f"{m.stem}.rollback.sql").write_text(m.rollback, encoding="utf-8")

    def _argv(self, db: Path, verb: str) -> list[str]:
        argv = [self.binary, verb, "--no-config-file", "--database", f"sqlite:///{db}"]
        return [*argv, *(["--batch"] if verb == "apply" else []), str(self.home)]

    def apply(self, db: Path) -> Command:
        return Command(self._argv(db, "apply"), cwd=self.home, prepare=fresh(db))

    def status(self, db: Path) -> Command:
        return Command(self._argv(db, "list"), cwd=self.home)


class Sqitch(Peer):
    def locate(self, install: bool) -> None:
        if install and not (shutil.which("sqitch") and self._has_driver()):
            apt_install("sqitch", "libdbd-sqlite3-perl")
        found = shutil.which("sqitch")
        if not found:
            raise Skip("not on PATH (--install as root gets Debian's sqitch)")
        if not self._has_driver():
            raise Skip("perl's DBD::SQLite is missing (Debian libdbd-sqlite3-perl)")
        if not shutil.which("sqlite3"):
            raise Skip("the sqlite3 CLI it runs every script with is missing")
        self.binary = found
        self.version = quiet([found, "--version"]).split()[-1]
        self.invocation = "`sqitch deploy db:sqlite:DB` / `sqitch status db:sqlite:DB`"

    def _has_driver(self) -> bool:
        try:
            quiet(["perl", "-MDBD::SQLite", "-e", "1"], timeout=30)
        except Skip:
            return False
        return True

    def write_layout(self, migrations: list[Migration]) -> None:
        for folder in ("deploy", "revert", "verify"):
            (self.home / folder).mkdir(exist_ok=True)
        (self.home / "sqitch.conf").write_text(
            "[core]\n\tengine = sqlite\n\ttop_dir = .\n"
            "[user]\n\tname = Bench\n\temail = bench@example.com\n",
            encoding="utf-8",
        )
        plan = ["%syntax-version=1.0.0", "%project=bench", ""]
        for m in migrations:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + m.number))
            plan.append(f"{m.stem} {stamp} Bench <bench@example.com> # {m.slug}")
            # sqitch runs each script with the sqlite3 CLI; its own templates wrap the change
            # in BEGIN/COMMIT: one transaction per migration, as for the others
            deploy = f"BEGIN;\n{m.sql}COMMIT;\n"
            revert = f"BEGIN;\n{m.rollback or '-- a seed: no rollback'}\nCOMMIT;\n"
            (self.home / "deploy" / f"{m.stem}.sql").write_text(deploy, encoding="utf-8")
            (self.home / "revert" / f"{m.stem}.sql").write_text(revert, encoding="utf-8")
            verify = "SELECT 1 FROM sqlite_master LIMIT 1;\n"  # not run: deploy.verify is off
            (self.home / "verify" / f"{m.stem}.sql").write_text(verify, encoding="utf-8")
        (self.home / "sqitch.plan").write_text("\n".join(plan) + "\n", encoding="utf-8")

    def databases(self, db: Path) -> list[Path]:
        return [db, db.parent / "sqitch.db"]  # its registry: a second file beside the target

    def apply(self, db: Path) -> Command:
        argv = [self.binary, "deploy", f"db:sqlite:{db}"]
        return Command(argv, cwd=self.home, prepare=fresh(*self.databases(db)))

    def status(self, db: Path) -> Command:
        return Command([self.binary, "status", f"db:sqlite:{db}"], cwd=self.home)


class GolangMigrate(Peer):
    def locate(self, install: bool) -> None:
        local = self.tools / "gopath" / "bin" / "migrate"
        if install and not self._found(local):
            if not shutil.which("go"):
                apt_install("golang-go")
            gopath, cache = str(self.tools / "gopath"), str(self.tools / "gocache")
            try:
                quiet(["go", "install", "-tags", "sqlite3", GO_MIGRATE], GOPATH=gopath,
                      GOCACHE=cache)  # fmt: skip
            except Skip as why:
                if "dial tcp" in str(why) or "no such host" in str(why):
                    raise Skip("`go install` cannot reach the Go module proxy from here") from None
                raise
        found = self._found(local)  # not PATH's `migrate`: another tool may have that name
        if not found:
            raise Skip(f"not built here (--install runs `go install -tags sqlite3 {GO_MIGRATE}`)")
        self.binary = found
        self.version = quiet([found, "-version"]) or "unknown"
        self.invocation = "`migrate -path DIR -database sqlite3://DB up` / `version`"

    def write_layout(self, migrations: list[Migration]) -> None:
        for m in migrations:
            (self.home / f"{m.stem}.up.sql").write_text(m.sql, encoding="utf-8")
            down = m.rollback or "-- a seed: no rollback\n"
            (self.home / f"{m.stem}.down.sql").write_text(down, encoding="utf-8")

    def apply(self, db: Path) -> Command:
        argv = [self.binary, "-path", str(self.home), "-database", f"sqlite3://{db}", "up"]
        return Command(argv, cwd=self.home, prepare=fresh(db))

    def status(self, db: Path) -> Command:
        argv = [self.binary, "-path", str(self.home), "-database", f"sqlite3://{db}", "version"]
        return Command(argv, cwd=self.home)


PEER_CLASSES: dict[str, type[Peer]] = {
    "dbmate": Dbmate, "yoyo": Yoyo, "sqitch": Sqitch, "golang-migrate": GolangMigrate,
}  # fmt: skip
