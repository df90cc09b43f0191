"""Bearer tokens and the principals they stand for."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from loadbay.domain.principals import ADMIN, Principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenGrant:
    token: str
    principal: Principal


class TokenTable:
    """Looks a token up by its SHA-256, so no comparison leaks a token's prefix."""

    def __init__(self, grants: Iterable[TokenGrant]) -> None:
        self._by_digest = {_digest(g.token): g.principal for g in grants}

    def principal(self, token: str) -> Principal | None:
        return self._by_digest.get(_digest(token))

    def users_of(self, tenant: str) -> set[str]:
        """The users some token of ``tenant`` names (whom a job may be shared with)."""
        return {p.user for p in self._by_digest.values() if p.tenant == tenant}

    def __len__(self) -> int:
        return len(self._by_digest)


def load_or_create_admin_token(path: Path) -> tuple[TokenGrant, bool]:
    """The generated admin token kept at ``path``, and whether it was just created."""
    created = False
    if path.exists():
        token = path.read_text("utf-8").strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = "lb_" + secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        created = True
    principal = Principal(user="admin", tenant="", roles=frozenset({ADMIN}))
    return TokenGrant(token, principal), created
