"""A real PostgreSQL server for the tests, from Debian's `postgresql` binaries (setup.sh --dev installs
them): initdb in a temp dir, listening on 127.0.0.1 only, a password-protected role.

PostgreSQL refuses to run as root, and the tests run as root: initdb and the server run as the
unprivileged `nobody` (subprocess's `user=`), on a temp dir handed to that user. When the tests are not
root, they run as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "pg-secret-4711"  # must never appear in any output
USER = "facemask"
DATABASE = "facemask"
START_DEADLINE_S = 120
STOP_DEADLINE_S = 60


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them out of PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Postgres:
    port: int
    base: Path
    log: Path
    process: subprocess.Popen

    def url(self, password: str = PASSWORD, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{USER}:{password}@127.0.0.1:{self.port}/{DATABASE}"


def _as_owner() -> dict:
    """subprocess arguments that run a command as the server's owner: `nobody` when we are root."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def start_postgres(base: Path) -> Postgres:
    bindir = bin_dir()
    assert bindir, "PostgreSQL's server is missing: bash setup.sh --dev installs Debian's postgresql"
    base = Path(base)
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir(parents=True)
    password_file = base / "password"
    password_file.write_text(PASSWORD + "\n")
    owner = _as_owner()
    if owner:
        for path in (base, sockets, password_file):
            os.chown(path, owner["user"], owner["group"])
    init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(password_file),
                           "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-instructions"],
                          capture_output=True, text=True, cwd=base, timeout=300, **owner)
    assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
    password_file.unlink()
    port = free_port()
    with open(log, "w") as out:
        if owner:
            os.chown(log, owner["user"], owner["group"])
        process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(sockets),
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=out, stderr=subprocess.STDOUT, cwd=base, start_new_session=True, **owner)
    server = Postgres(port=port, base=base, log=log, process=process)
    try:
        _wait_ready(server, bindir)
        _create_database(server)
    except BaseException:
        stop_postgres(server)
        raise
    return server


def _wait_ready(server: Postgres, bindir: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"postgres exited with {server.process.returncode}:\n{server.log.read_text()}")
        ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port), "-t", "5"],
                               capture_output=True, text=True, timeout=60)
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"postgres did not accept connections on 127.0.0.1:{server.port} within "
                                 f"{START_DEADLINE_S} s:\n{server.log.read_text()[-2000:]}")
        time.sleep(0.3)


def _create_database(server: Postgres) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, dbname="postgres",
                         autocommit=True, connect_timeout=30) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")


def stop_postgres(server: Postgres) -> None:
    """A fast shutdown (SIGINT), SIGKILL at the deadline."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=30)
