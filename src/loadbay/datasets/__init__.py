"""Dataset declarations: the YAML format, the built-ins and the registry of known datasets."""

from loadbay.datasets.registry import DatasetRegistry, load_registry

__all__ = ["DatasetRegistry", "load_registry"]
