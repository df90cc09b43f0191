"""A real clamd for tests, with its own tiny signature database (loaded via ``pytest_plugins``).

There is no network for freshclam, so the database is built here: ``test.hdb`` (MD5 and
size of the EICAR test string) and ``test.ndb`` (its bytes, which also match inside a
larger file). The EICAR string is assembled in code so that no file in the repository is
itself "malware" to a scanner on a developer's machine. clamd reports these signatures
with an ``.UNOFFICIAL`` suffix (``Test.EICAR.NDB.UNOFFICIAL``).

Fixtures:

- ``clamd`` (session): a running :class:`ClamdServer` with the limits of the recipe in
  ``shared/recipes/components.md`` (StreamMaxLength 300M, AlertExceedsMax yes...). Tests
  may ``stop()`` and ``start()`` it; it comes back on the same port and socket.
- ``small_clamd`` (function): a second clamd with ``StreamMaxLength 1M``.

Without clamd installed, the fixtures try ``apt-get install clamav-daemon clamav`` (as
root); failing that they skip loudly, or fail under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest

from tests.conftest import unavailable
from tests.processes import log_tail, stop_by_pid

APT_PACKAGES = ("clamav-daemon", "clamav")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
DEFAULT_OPTIONS = {
    "Foreground": "yes",
    "StreamMaxLength": "300M",
    "MaxScanSize": "400M",
    "MaxFileSize": "300M",
    # Without it a file over MaxFileSize is answered "OK" unscanned.
    "AlertExceedsMax": "yes",
    "SelfCheck": "0",
    "Bytecode": "no",
}
MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux, 104 on the BSDs


def eicar() -> bytes:
    """The 68-byte EICAR anti-virus test string, built from parts so no file holds it whole."""
    parts = (
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-",
        "ANTIVIRUS-TEST-",
        "FILE!$H+H*",
    )
    return "".join(parts).encode("ascii")


def write_database(directory: Path) -> Path:
    """Write the test signature database into ``directory`` (created) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    sample = eicar()
    md5 = hashlib.md5(sample).hexdigest()
    (directory / "test.hdb").write_text(f"{md5}:{len(sample)}:Test.EICAR.HDB\n")
    (directory / "test.ndb").write_text(f"Test.EICAR.NDB:0:*:{sample.hex()}\n")
    return directory


def find_clamd() -> str | None:
    """The clamd binary, also where a non-root PATH lacks ``/usr/sbin``."""
    for candidate in (shutil.which("clamd"), "/usr/sbin/clamd", "/usr/local/sbin/clamd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def install_clamd(out: IO[str]) -> str | None:
    """Install clamd from the distribution's packages when we may (root, apt-get)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", *APT_PACKAGES],
    ):
        out.write(f"\n[fixtures_clamd] clamd is missing; running: {' '.join(command)}\n")
        out.flush()
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
        if done.returncode != 0:
            out.write(f"[fixtures_clamd] {command[1]} failed ({done.returncode})\n")
            return None
    return find_clamd()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ping(address: tuple[str, int] | str, timeout: float = 1.0) -> bool:
    """True if clamd at ``address`` (TCP pair or socket path) answers ``zPING`` with PONG."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"zPING\0")
            reply = b""
            while not reply.endswith(b"\0"):
                piece = sock.recv(64)
                if not piece:
                    break
                reply += piece
    except OSError:
        return False
    return reply.rstrip(b"\0") == b"PONG"


class ClamdServer:
    """One ``clamd -c <conf>`` in ``directory``: database, config, socket and log live there.

    >>> with ClamdServer(find_clamd(), tmp_path, StreamMaxLength="1M") as server:  # doctest: +SKIP
    ...     scanner = ClamdScanner(server.tcp_url)  # doctest: +SKIP

    ``options`` override :data:`DEFAULT_OPTIONS` (clamd.conf names). The TCP port is
    chosen once, so a ``stop()`` then ``start()`` comes back at the same URLs.
    """

    def __init__(self, binary: str, directory: Path, **options: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.socket_path = directory / "clamd.sock"
        if len(str(self.socket_path)) > MAX_UNIX_PATH:
            raise ValueError(f"unix socket path too long for the OS: {self.socket_path}")
        self.log_path = directory / "clamd.log"
        self.config_path = directory / "clamd.conf"
        self.options = {**DEFAULT_OPTIONS, **options}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def config(self) -> str:
        lines = {
            "DatabaseDirectory": str(self.directory / "db"),
            "TCPSocket": str(self.port),
            "TCPAddr": "127.0.0.1",
            "LocalSocket": str(self.socket_path),
            **self.options,
        }
        if os.geteuid() == 0:
            lines["User"] = "root"  # stay root rather than switch to a "clamav" user
        return "".join(f"{name} {value}\n" for name, value in lines.items())

    def start(self) -> None:
        """Start clamd (a no-op if it runs) and wait until it answers PING on both sockets."""
        if self._process is not None and self._process.poll() is None:
            return
        self.stop()
        write_database(self.directory / "db")
        self.config_path.write_text(self.config())
        self.socket_path.unlink(missing_ok=True)  # left behind if clamd was killed
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (ping(("127.0.0.1", self.port)) and ping(str(self.socket_path))):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"clamd did not come up:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop clamd by its PID (SIGTERM, then SIGKILL) and wait for it; idempotent."""
        process, self._process = self._process, None
        stop_by_pid(process, STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> ClamdServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="session")
def clamd_binary(request: pytest.FixtureRequest) -> str:
    """The clamd binary, installed from apt on first need if we are root."""
    binary = find_clamd()
    if binary is None:
        capture: Any = request.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            with capture.global_and_fixture_disabled():  # let the install show live
                binary = install_clamd(sys.stderr)
        else:
            binary = install_clamd(sys.stderr)
    if binary is None:
        unavailable(
            "clamd is not installed and could not be installed "
            f"(as root: apt-get install -y {' '.join(APT_PACKAGES)})"
        )
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def clamd(clamd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """A clamd for the whole session, with the recipe's limits (StreamMaxLength 300M)."""
    with ClamdServer(clamd_binary, tmp_path_factory.mktemp("clamd")) as server:
        yield server


@pytest.fixture
def small_clamd(
    clamd_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClamdServer]:
    """A clamd that refuses streams over 1 MiB, for the size-limit path."""
    with ClamdServer(
        clamd_binary, tmp_path_factory.mktemp("small-clamd"), StreamMaxLength="1M"
    ) as server:
        yield server
