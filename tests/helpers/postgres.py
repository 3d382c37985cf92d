"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` package (initdb,
pg_ctl) started in a temporary folder on a free port, trusting local connections.

PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` user (which the
package creates) through ``runuser``. `start` returns None with the reason where it cannot run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PORT_TRIES = 3  # ports tried before giving up on starting the server


class Server:
    """A running server: ``url`` (SQLAlchemy, database ``bnnfer``); `stop` removes it."""

    def __init__(self, bin_dir: Path, folder: Path, port: int, prefix: list[str]) -> None:
        self.bin_dir, self.folder, self.port, self.prefix = bin_dir, folder, port, prefix
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/bnnfer"

    def stop(self) -> None:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate"]
        subprocess.run([*self.prefix, *command, "stop"], capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start() -> Server | str:
    """A started server, or why none could start."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return "Debian's postgresql package is not installed (no /usr/lib/postgresql/*/bin/initdb)"
    try:
        import psycopg
    except ImportError:
        return 'psycopg is not installed (pip install -e ".[postgres]")'
    bin_dir = Path(found[-1]).parent
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="bnnfer-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if runuser is None:
            return "running as root and runuser is missing"
        os.chmod(folder, 0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    data = folder / "data"

    def failed(step: str, done: subprocess.CompletedProcess[str]) -> str:
        shutil.rmtree(folder, ignore_errors=True)
        return f"{step} failed: {(done.stderr or done.stdout).strip()[-300:]}"

    initdb = [
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
    ]
    done = subprocess.run([*prefix, *initdb], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return failed("initdb", done)
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]
    # the free port is only free when asked: another process may take it before the server
    # binds it, so a failed start tries another port
    for _ in range(PORT_TRIES):
        port = _free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [*prefix, *pg_ctl, "-o", options, "start"]
        done = subprocess.run(start, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
    else:
        return failed("pg_ctl", done)
    server = Server(bin_dir, folder, port, prefix)
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE bnnfer")
    return server
