"""Stores chosen by URL scheme, and the lookup of the store that holds a reference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loadbay.storage.base import Store, StoredRef


class StoreConfigError(ValueError):
    """A store URL or option that cannot be used; the message names the setting."""


def open_store(name: str, url: str, options: Mapping[str, Any]) -> Store:
    """The store for ``[stores.<name>] url``; backends are imported only when used."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreConfigError(f"stores.{name}.url: a file URL has no host: {url!r}")
        from loadbay.storage.local import LocalStore

        return LocalStore(Path(unquote(parts.path)))
    if parts.scheme == "memory":
        from loadbay.storage.memory import MemoryStore

        return MemoryStore(parts.netloc or name)
    if parts.scheme in ("s3", "az", "gs"):
        try:
            from loadbay.storage.object_store import ObjectStore
        except ImportError as error:
            raise StoreConfigError(
                f"stores.{name}.url: {parts.scheme}:// stores need the obstore package "
                f"(pip install obstore): {error}"
            ) from error
        try:
            return ObjectStore(name, url, options)
        except StoreConfigError:
            raise
        except ValueError as error:
            raise StoreConfigError(str(error)) from error
    raise StoreConfigError(
        f"stores.{name}.url: unsupported storage {parts.scheme!r} in {url!r} "
        "(supported: file://, memory://, s3://, az://, gs://)"
    )


class StoreRegistry:
    """The configured stores by role, and by (storage, container) to resolve references."""

    def __init__(self, stores: Mapping[str, Store]) -> None:
        self._by_name = dict(stores)

    def __getitem__(self, name: str) -> Store:
        return self._by_name[name]

    def for_ref(self, ref: StoredRef) -> Store:
        for store in self._by_name.values():
            if store.storage == ref.storage and store.container == ref.container:
                return store
        raise LookupError(
            f"no configured store holds {ref.storage}:{ref.container}; "
            "keep the old store configured while its objects are in use"
        )
