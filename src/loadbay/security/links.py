"""Download links that loadbay serves itself: HMAC-signed, with an expiry.

The signature covers the job id, the file name and the expiry, so changing any
part of the URL breaks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from loadbay.domain.errors import LinkRejected
from loadbay.security.keys import KeyRing


@dataclass(frozen=True)
class SignedLink:
    url: str
    expires_at: datetime


class LinkSigner:
    def __init__(self, keys: KeyRing, public_url: str) -> None:
        self._keys = keys
        self._public_url = public_url.rstrip("/")

    @staticmethod
    def _message(job_id: str, file_name: str, expires: int) -> str:
        return f"download\n{job_id}\n{file_name}\n{expires}"

    def sign(self, job_id: str, file_name: str, expires_at: datetime) -> SignedLink:
        expires = int(expires_at.timestamp())
        signature = self._keys.sign(self._message(job_id, file_name, expires))
        query = urlencode({"expires": expires, "signature": signature})
        url = f"{self._public_url}/downloads/{quote(job_id)}/{quote(file_name)}?{query}"
        return SignedLink(url, datetime.fromtimestamp(expires, UTC))

    def check(
        self, job_id: str, file_name: str, expires: str, signature: str, now: datetime
    ) -> None:
        """Raise :class:`LinkRejected` unless the link is intact and not expired."""
        canonical = expires.isascii() and expires.isdigit() and str(int(expires)) == expires
        if not canonical or not self._keys.verify(
            self._message(job_id, file_name, int(expires)), signature
        ):
            raise LinkRejected("The link is not valid: it was altered or is not one of ours")
        if int(expires) <= now.timestamp():
            raise LinkRejected("The link has expired; ask for a new one", code="link_expired")
