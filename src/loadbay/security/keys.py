"""The secret keys: the first signs and encrypts; every key is accepted, for rotation.

>>> ring = KeyRing(["new-secret", "old-secret"])
>>> ring.decrypt(KeyRing(["old-secret"]).encrypt(b"ref")) == b"ref"
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class UnknownKey(ValueError):
    """Encrypted data that none of the configured keys opens."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"loadbay", info=purpose).derive(
        secret.encode("utf-8")
    )


class KeyRing:
    """Derives a signing key and an encryption key from each configured secret."""

    def __init__(self, secrets_: Sequence[str]) -> None:
        if not secrets_ or not all(secrets_):
            raise ValueError("at least one non-empty secret key is needed")
        self._signing = [_derive(s, b"links") for s in secrets_]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(_derive(s, b"storage-refs"))) for s in secrets_]
        )

    def sign(self, message: str) -> str:
        return self._signature(self._signing[0], message)

    @staticmethod
    def _signature(key: bytes, message: str) -> str:
        digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def verify(self, message: str, signature: str) -> bool:
        """Whether ``signature`` is, character for character, one a configured key makes."""
        given = signature.encode("utf-8")
        return any(
            hmac.compare_digest(given, self._signature(key, message).encode("ascii"))
            for key in self._signing
        )

    def encrypt(self, data: bytes) -> str:
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as error:
            raise UnknownKey("no configured secret key opens this value") from error


def load_or_create_secret(path: Path) -> str:
    """The secret kept at ``path``, created there (mode 0600) on first use."""
    if path.exists():
        return path.read_text("utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret
