"""The datasets a service knows: the built-ins plus any YAML files in ``datasets.dir``."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from loadbay.datasets.schema import DatasetSpec
from loadbay.domain.datasets import Dataset

BUILTIN_NAMES = ("location", "organisation", "user")


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file and the problem."""


class DatasetRegistry:
    """Datasets by name, with references checked to point at known datasets."""

    def __init__(self, datasets: list[Dataset]) -> None:
        self._by_name: dict[str, Dataset] = {}
        for dataset in datasets:
            if dataset.name in self._by_name:
                raise DatasetError(f"dataset {dataset.name!r} is declared twice")
            self._by_name[dataset.name] = dataset
        for dataset in datasets:
            for column in dataset.columns:
                if column.reference and column.reference.dataset not in self._by_name:
                    raise DatasetError(
                        f"dataset {dataset.name!r}, column {column.key!r}: "
                        f"reference to unknown dataset {column.reference.dataset!r}"
                    )

    def get(self, name: str) -> Dataset | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Dataset]:
        return iter(sorted(self._by_name.values(), key=lambda d: d.name))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def parse_dataset(text: str, source: str) -> Dataset:
    """One dataset from YAML text; ``source`` names the file in error messages."""
    try:
        document = yaml.safe_load(text)
        return DatasetSpec.model_validate(document).to_dataset()
    except (yaml.YAMLError, ValidationError, ValueError) as error:
        raise DatasetError(f"{source}: {error}") from error


def builtin_datasets() -> list[Dataset]:
    folder = resources.files("loadbay.datasets") / "builtin"
    return [
        parse_dataset((folder / f"{name}.yaml").read_text("utf-8"), f"builtin/{name}.yaml")
        for name in BUILTIN_NAMES
    ]


def load_registry(extra_dir: Path | None) -> DatasetRegistry:
    """The built-ins plus every ``*.yaml``/``*.yml`` file of ``extra_dir``."""
    datasets = builtin_datasets()
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise DatasetError(f"datasets.dir {str(extra_dir)!r} is not a directory")
        for path in sorted([*extra_dir.glob("*.yaml"), *extra_dir.glob("*.yml")]):
            datasets.append(parse_dataset(path.read_text("utf-8"), str(path)))
    return DatasetRegistry(datasets)
