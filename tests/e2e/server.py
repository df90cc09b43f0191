"""Starts and stops a real ``loadbay serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

LOADBAY = str(Path(sys.executable).with_name("loadbay"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path, data_dir: Path, database_urls: tuple[str, str], tokens: list[dict[str, Any]]
) -> None:
    lines = [
        f"data_dir = {toml_value(str(data_dir))}",
        "[database]",
        f"url = {toml_value(database_urls[0])}",
        "[target]",
        f"url = {toml_value(database_urls[1])}",
    ]
    for token in tokens:
        lines.append("[[auth.tokens]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in token.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_section(path: Path, name: str, values: dict[str, Any]) -> None:
    """Add a ``[name]`` table of plain values to the TOML config at ``path``."""
    lines = [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


class Server:
    """One ``loadbay serve`` process on a free port; output goes to a log file."""

    def __init__(self, workdir: Path, config: Path | None, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Server:
        command = [LOADBAY, "serve", "--port", str(self.port)]
        if self.config is not None:
            command += ["--config", str(self.config)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker:
    """One ``loadbay worker`` process group (Celery's main process and its pool)."""

    def __init__(self, workdir: Path, config: Path, name: str, concurrency: int = 1) -> None:
        self.log = workdir / f"worker-{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [LOADBAY, "worker", "--config", str(config), "--concurrency", str(concurrency)],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "C_FORCE_ROOT": "1"},
                start_new_session=True,  # its own process group, killed as one
            )
        deadline = time.monotonic() + 60
        while b" ready." not in self.log.read_bytes():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")

    def busy(self) -> bool:
        """A task received and not finished: the worker is inside a step."""
        output = self.output()
        return output.count("] received") > output.count("] succeeded in ")

    def kill(self) -> None:
        """SIGKILL to the whole group: as if its host died."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
