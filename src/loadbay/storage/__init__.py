"""Where files live: a narrow :class:`Store` protocol, chosen per store by URL."""

from loadbay.storage.base import ObjectWriter, Store, StoredRef
from loadbay.storage.registry import StoreRegistry, open_store

__all__ = ["ObjectWriter", "Store", "StoreRegistry", "StoredRef", "open_store"]
