"""Who is asking, and which jobs they may see."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller behind a bearer token.

    >>> Principal(user="alice", tenant="acme", roles=frozenset({"user"})).can_see("bob", "acme")
    False
    """

    user: str
    tenant: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def sees_every_tenant(self) -> bool:
        return self.is_admin and not self.tenant

    def can_see(self, owner: str, tenant: str) -> bool:
        if self.sees_every_tenant:
            return True
        if self.is_admin:
            return tenant == self.tenant
        return owner == self.user and tenant == self.tenant
