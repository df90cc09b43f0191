"""Real object-store servers for tests (loaded via ``pytest_plugins``).

Fixtures (session scope, one server each, stopped by PID at the end):

- ``ministack``: S3 on ministack (``BIND_HOST=127.0.0.1``, free port, own ``STATE_DIR``,
  credentials ``test``/``test``), started with the ``ministack`` command of the venv.
  It verifies presigned signatures and expiry.
- ``azurite``: Azure Blob on Azurite (``azurite-blob --skipApiVersionCheck
  --disableTelemetry --silent``, free port, own ``--location``). Installed on first need
  with ``npm install azurite`` into ``.tools/node`` (gitignored). It enforces SAS.

Each yields a server object with ``url(bucket, prefix)``, ``options()`` (the
``[stores.<name>]`` provider options), ``create_bucket()`` and ``store()`` (a fresh
bucket/container and its :class:`~loadbay.storage.object_store.ObjectStore`).

A server that cannot be installed or started skips loudly, or fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import unavailable
from tests.processes import log_tail, stop_by_pid

if TYPE_CHECKING:
    from loadbay.storage.object_store import ObjectStore

ROOT = Path(__file__).resolve().parents[1]
NODE_TOOLS = ROOT / ".tools" / "node"
AZURITE_BIN = NODE_TOOLS / "node_modules" / ".bin" / "azurite-blob"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def new_name(prefix: str) -> str:
    """A fresh bucket/container name (3-63 lowercase letters, digits and dashes)."""
    return f"{prefix}-{secrets.token_hex(6)}"


class ServerProcess:
    """One server subprocess with its log file; stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(
        self, label: str, command: list[str], env: dict[str, str], directory: Path, port: int
    ) -> None:
        self.label = label
        self.command = command
        self.env = env
        self.directory = directory
        self.port = port
        self.log_path = directory / f"{label}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, ready_path: str = "/") -> None:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.directory,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                httpx.get(f"http://127.0.0.1:{self.port}{ready_path}", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        unavailable(f"{self.label} did not start on port {self.port}:\n{tail}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_by_pid(process, STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


class S3Server:
    """A running ministack (S3) and helpers to make buckets and stores on it."""

    access_key_id = "test"
    secret_access_key = "test"
    region = "us-east-1"

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.endpoint = f"http://127.0.0.1:{process.port}"

    def options(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "allow_http": True,
        }

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def create_bucket(self, bucket: str | None = None) -> str:
        # ministack accepts an unsigned CreateBucket (it checks signatures on presigned URLs).
        bucket = bucket or new_name("lb")
        response = httpx.put(f"{self.endpoint}/{bucket}", timeout=10)
        assert response.status_code in (200, 409), response.text
        return bucket

    def store(self, prefix: str = "", name: str = "test") -> ObjectStore:
        from loadbay.storage.object_store import ObjectStore

        return ObjectStore(name, self.url(self.create_bucket(), prefix), self.options())


class AzuriteServer:
    """A running Azurite (Blob) and helpers to make containers and stores on it."""

    account_name = EMULATOR_ACCOUNT
    account_key = EMULATOR_KEY

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.endpoint = f"http://127.0.0.1:{process.port}/{EMULATOR_ACCOUNT}"

    def options(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "account_name": self.account_name,
            "account_key": self.account_key,
            "allow_http": True,
        }

    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    def url(self, container: str, prefix: str = "") -> str:
        return f"az://{container}/{prefix}" if prefix else f"az://{container}"

    def create_bucket(self, container: str | None = None) -> str:
        """Create Container, signed with Shared Key (obstore has no container operations)."""
        container = container or new_name("lb")
        date = formatdate(usegmt=True)
        version = "2021-08-06"
        path = f"/{EMULATOR_ACCOUNT}/{container}"
        string_to_sign = "\n".join(
            ["PUT"]
            + [""] * 11
            + [f"x-ms-date:{date}", f"x-ms-version:{version}"]
            + [f"/{self.account_name}{path}\nrestype:container"]
        )
        signature = base64.b64encode(
            hmac.new(
                base64.b64decode(self.account_key), string_to_sign.encode(), hashlib.sha256
            ).digest()
        ).decode()
        response = httpx.put(
            f"http://127.0.0.1:{self.process.port}{path}?restype=container",
            headers={
                "x-ms-date": date,
                "x-ms-version": version,
                "Authorization": f"SharedKey {self.account_name}:{signature}",
            },
            timeout=10,
        )
        assert response.status_code in (201, 409), response.text
        return container

    def store(self, prefix: str = "", name: str = "test") -> ObjectStore:
        from loadbay.storage.object_store import ObjectStore

        return ObjectStore(name, self.url(self.create_bucket(), prefix), self.options())


def _live(request: pytest.FixtureRequest) -> Any:
    """A context that shows output live (outside pytest's capture)."""
    capture: Any = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        return capture.global_and_fixture_disabled()
    import contextlib

    return contextlib.nullcontext()


def find_ministack() -> str | None:
    candidate = Path(sys.executable).with_name("ministack")
    if candidate.exists():
        return str(candidate)
    return shutil.which("ministack")


def install_azurite(out: IO[str]) -> bool:
    npm = shutil.which("npm")
    if npm is None:
        out.write("\n[fixtures_objects] azurite is missing and there is no npm\n")
        return False
    NODE_TOOLS.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_TOOLS), "azurite"]
    out.write(f"\n[fixtures_objects] azurite is missing; running: {' '.join(command)}\n")
    out.flush()
    done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=NODE_TOOLS)
    if done.returncode != 0:
        out.write(f"[fixtures_objects] npm install azurite failed ({done.returncode})\n")
        return False
    return AZURITE_BIN.exists()


def ministack_process(binary: str, directory: Path) -> ServerProcess:
    """ministack serving S3 and SQS on a free port of 127.0.0.1 (not started yet)."""
    port = free_port()
    env = {
        **os.environ,
        "BIND_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "SERVICES": "s3,sqs",
        "STATE_DIR": str(directory / "state"),
    }
    return ServerProcess("ministack", [binary], env, directory, port)


def azurite_process(directory: Path) -> ServerProcess:
    """Azurite's blob service on a free port of 127.0.0.1 (not started yet)."""
    port = free_port()
    command = [
        str(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(directory / "data"),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    return ServerProcess("azurite", command, dict(os.environ), directory, port)


@pytest.fixture(scope="session")
def ministack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """ministack serving S3 and SQS on 127.0.0.1:<free port> for the session."""
    binary = find_ministack()
    if binary is None:
        unavailable("ministack is not installed (pip install ministack)")
    assert binary is not None
    directory = tmp_path_factory.mktemp("ministack")
    process = ministack_process(binary, directory)
    process.start()
    try:
        yield S3Server(process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def azurite(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AzuriteServer]:
    """Azurite (Blob only) on 127.0.0.1:<free port> for the session."""
    if not AZURITE_BIN.exists():
        with _live(request):
            installed = install_azurite(sys.stderr)
        if not installed:
            unavailable(f"azurite is not installed (npm install --prefix {NODE_TOOLS} azurite)")
    directory = tmp_path_factory.mktemp("azurite")
    process = azurite_process(directory)
    process.start()
    try:
        yield AzuriteServer(process)
    finally:
        process.stop()
