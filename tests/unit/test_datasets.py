"""The built-in datasets exactly as datasets.md declares them, and YAML dataset errors."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from loadbay.datasets import DatasetRegistry, load_registry
from loadbay.datasets.registry import DatasetError, builtin_datasets, parse_dataset
from loadbay.domain.datasets import AtLeastOneOf, ColumnType, Dataset, Reference
from loadbay.domain.rules import RuleViolation, compile_converter

TODAY = date(2026, 11, 22)

# (key, label, type, required, max_length, enum values, default, reference)
LOCATION = [
    ("code", "Location Code", ColumnType.STRING, True, 64, (), None, None),
    ("name", "Location Name", ColumnType.STRING, True, 200, (), None, None),
    (
        "type",
        "Location Type",
        ColumnType.ENUM,
        True,
        None,
        ("state", "district", "block", "cluster"),
        None,
        None,
    ),
    ("parent_code", "Parent Location Code", ColumnType.STRING, False, None, (), None, "location"),
]
ORGANISATION = [
    ("external_id", "External ID", ColumnType.STRING, True, 100, (), None, None),
    ("name", "Organisation Name", ColumnType.STRING, True, 200, (), None, None),
    ("description", "Description", ColumnType.STRING, False, 1000, (), None, None),
    ("location_code", "Location Code", ColumnType.STRING, False, None, (), None, "location"),
    ("email", "Email", ColumnType.EMAIL, False, None, (), None, None),
    ("status", "Status", ColumnType.ENUM, False, None, ("active", "inactive"), "active", None),
]
USER = [
    ("external_id", "External ID", ColumnType.STRING, True, 100, (), None, None),
    ("first_name", "First Name", ColumnType.STRING, True, 100, (), None, None),
    ("last_name", "Last Name", ColumnType.STRING, False, 100, (), None, None),
    ("email", "Email", ColumnType.EMAIL, False, None, (), None, None),
    ("phone", "Phone", ColumnType.PHONE, False, None, (), None, None),
    ("date_of_birth", "Date of Birth", ColumnType.DATE, False, None, (), None, None),
    (
        "organisation_id",
        "Organisation ID",
        ColumnType.STRING,
        False,
        None,
        (),
        None,
        "organisation",
    ),
    ("location_code", "Location Code", ColumnType.STRING, False, None, (), None, "location"),
    (
        "role",
        "Role",
        ColumnType.ENUM,
        False,
        None,
        ("member", "org_admin", "content_creator", "reviewer"),
        "member",
        None,
    ),
    ("status", "Status", ColumnType.ENUM, False, None, ("active", "inactive"), "active", None),
]
BUILTINS = {
    "location": ("locations", "code", LOCATION),
    "organisation": ("organisations", "external_id", ORGANISATION),
    "user": ("users", "external_id", USER),
}


@pytest.fixture(scope="module")
def registry() -> DatasetRegistry:
    return load_registry(None)


def test_the_registry_holds_exactly_the_three_builtins(registry: DatasetRegistry) -> None:
    assert [d.name for d in registry] == ["location", "organisation", "user"]
    assert [d.name for d in builtin_datasets()] == ["location", "organisation", "user"]
    assert "user" in registry
    assert "course" not in registry
    assert registry.get("course") is None


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_dataset_matches_the_contract(registry: DatasetRegistry, name: str) -> None:
    table, key, columns = BUILTINS[name]
    dataset = registry.get(name)
    assert dataset is not None
    assert dataset.table == table
    assert dataset.key == key
    assert dataset.key_column.required
    actual = [
        (
            c.key,
            c.label,
            c.type,
            c.required,
            c.max_length,
            c.values,
            c.default,
            c.reference.dataset if c.reference else None,
        )
        for c in dataset.columns
    ]
    assert actual == columns


def test_user_row_rule_is_email_or_phone(registry: DatasetRegistry) -> None:
    user = registry.get("user")
    assert user is not None
    assert user.row_rules == (AtLeastOneOf(("email", "phone")),)
    location, organisation = registry.get("location"), registry.get("organisation")
    assert location is not None
    assert organisation is not None
    assert location.row_rules == ()
    assert organisation.row_rules == ()


def test_user_date_of_birth_is_not_in_the_future(registry: DatasetRegistry) -> None:
    user = registry.get("user")
    assert user is not None
    convert = compile_converter(user.column("date_of_birth"), TODAY)
    assert convert("2026-11-22") == "2026-11-22"
    with pytest.raises(RuleViolation, match="in the future"):
        convert("2026-11-23")
    with pytest.raises(RuleViolation, match="YYYY-MM-DD"):
        convert("22-11-2000")


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("A", True),
        ("abc_DEF-123", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("a b", False),
        ("a.b", False),
        ("a/b", False),
        ("é", False),
    ],
)
def test_location_code_is_1_to_64_letters_digits_underscore_dash(
    registry: DatasetRegistry, raw: str, ok: bool
) -> None:
    location = registry.get("location")
    assert location is not None
    convert = compile_converter(location.column("code"), TODAY)
    if ok:
        assert convert(raw) == raw
    else:
        with pytest.raises(RuleViolation):
            convert(raw)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("+12345678", True), ("+123456789012345", True), ("+1234567", False), ("12345678", False)],
)
def test_user_phone_is_plus_then_8_to_15_digits(
    registry: DatasetRegistry, raw: str, ok: bool
) -> None:
    user = registry.get("user")
    assert user is not None
    convert = compile_converter(user.column("phone"), TODAY)
    if ok:
        assert convert(raw) == raw
    else:
        with pytest.raises(RuleViolation):
            convert(raw)


def test_labels_helpers(registry: DatasetRegistry) -> None:
    organisation = registry.get("organisation")
    assert organisation is not None
    assert organisation.labels == [
        "External ID",
        "Organisation Name",
        "Description",
        "Location Code",
        "Email",
        "Status",
    ]
    assert organisation.labels_of(["email", "external_id"]) == ["Email", "External ID"]
    with pytest.raises(KeyError):
        organisation.column("nope")


# --- YAML datasets ------------------------------------------------------------------

VALID = """
name: course
title: Courses
key: code
columns:
  - key: code
    label: Course Code
    type: string
    required: true
    max_length: 64
    pattern: "[A-Z0-9-]+"
    pattern_hint: capitals, digits or "-"
  - key: starts_on
    label: Start Date
    type: date
    minimum: "2020-01-01"
  - key: seats
    label: Seats
    type: integer
    minimum: 1
    maximum: 500
    default: 30
  - key: paid
    label: Paid
    type: boolean
    default: false
  - key: level
    label: Level
    type: enum
    values: [Basic, Advanced]
    default: basic
  - key: location_code
    label: Location Code
    reference: location
  - key: email
    label: Contact Email
    type: email
  - key: site
    label: Site
    type: url
row_rules:
  - at_least_one_of: [email, site]
"""


def test_a_valid_yaml_dataset_parses() -> None:
    dataset = parse_dataset(VALID, "course.yaml")
    assert isinstance(dataset, Dataset)
    assert (dataset.name, dataset.title, dataset.key) == ("course", "Courses", "code")
    assert dataset.table == "course"  # the name when no table is given
    code = dataset.column("code")
    assert code.required
    assert code.max_length == 64
    assert code.pattern == "[A-Z0-9-]+"
    assert code.pattern_hint == 'capitals, digits or "-"'
    assert dataset.column("starts_on").minimum == "2020-01-01"
    seats = dataset.column("seats")
    assert (seats.minimum, seats.maximum, seats.default) == ("1", "500", "30")
    assert dataset.column("paid").default == "false"
    assert dataset.column("level").values == ("Basic", "Advanced")
    assert dataset.column("location_code").reference == Reference("location")
    assert dataset.column("site").type is ColumnType.URL
    assert dataset.row_rules == (AtLeastOneOf(("email", "site")),)


def test_a_valid_extra_dataset_is_loaded_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text(VALID, "utf-8")
    (tmp_path / "room.yml").write_text(
        "name: room\ntitle: Rooms\nkey: number\ntable: rooms\n"
        "columns:\n  - key: number\n    label: Room Number\n    required: true\n"
        "  - key: course\n    label: Course\n    reference: course\n",
        "utf-8",
    )
    (tmp_path / "notes.txt").write_text("not a dataset", "utf-8")
    registry = load_registry(tmp_path)
    assert [d.name for d in registry] == ["course", "location", "organisation", "room", "user"]
    room = registry.get("room")
    assert room is not None
    assert room.table == "rooms"
    assert room.column("course").reference == Reference("course")


def test_an_empty_directory_adds_nothing(tmp_path: Path) -> None:
    assert [d.name for d in load_registry(tmp_path)] == ["location", "organisation", "user"]


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_registry(tmp_path / "nope")


def test_a_builtin_name_declared_again_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "user.yaml").write_text(
        "name: user\ntitle: Users\nkey: id\ncolumns:\n  - key: id\n    label: ID\n", "utf-8"
    )
    with pytest.raises(DatasetError, match="declared twice"):
        load_registry(tmp_path)


def test_reference_to_an_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "thing.yaml").write_text(
        "name: thing\ntitle: Things\nkey: id\ncolumns:\n  - key: id\n    label: ID\n"
        "  - key: widget\n    label: Widget\n    reference: widget\n",
        "utf-8",
    )
    with pytest.raises(DatasetError) as caught:
        load_registry(tmp_path)
    message = str(caught.value)
    assert "widget" in message
    assert "unknown dataset" in message


def dataset_yaml(*columns: dict[str, Any], **top: Any) -> str:
    """A minimal dataset document with ``columns`` after an ``id`` key column."""
    lines = [
        f"name: {top.get('name', 'thing')}",
        "title: Things",
        f"key: {top.get('key', 'id')}",
        *[f"{k}: {v}" for k, v in top.items() if k not in ("name", "key")],
        "columns:",
        "  - key: id",
        "    label: ID",
    ]
    for column in columns:
        first = True
        for k, v in column.items():
            lines.append(f"  {'- ' if first else '  '}{k}: {v}")
            first = False
    return textwrap.dedent("\n".join(lines)) + "\n"


def test_the_helper_makes_a_valid_document() -> None:
    dataset = parse_dataset(dataset_yaml({"key": "n", "label": "N", "type": "integer"}), "t")
    assert [c.key for c in dataset.columns] == ["id", "n"]


BAD_DATASETS = [
    ("unknown column field", dataset_yaml({"key": "n", "label": "N", "colour": "red"}), "colour"),
    ("unknown top-level field", dataset_yaml(owner="me"), "owner"),
    ("unknown type", dataset_yaml({"key": "n", "label": "N", "type": "money"}), "type"),
    (
        "enum without values",
        dataset_yaml({"key": "n", "label": "N", "type": "enum"}),
        "needs values",
    ),
    (
        "values on a non-enum",
        dataset_yaml({"key": "n", "label": "N", "values": "[a, b]"}),
        "only for enum",
    ),
    (
        "pattern that does not compile",
        dataset_yaml({"key": "n", "label": "N", "pattern": '"[a-z"'}),
        "pattern does not compile",
    ),
    (
        "label equal to another column's key",
        dataset_yaml({"key": "email", "label": "E-mail"}, {"key": "contact", "label": "EMAIL"}),
        "names both",
    ),
    (
        "label equal to another column's label",
        dataset_yaml({"key": "a", "label": "Name"}, {"key": "b", "label": "name"}),
        "names both",
    ),
    (
        "key equal to another column's label",
        dataset_yaml({"key": "a", "label": "Zip"}, {"key": "zip", "label": "Postcode"}),
        "names both",
    ),
    ("same key twice", dataset_yaml({"key": "id", "label": "Other"}), "unique"),
    ("key not a column", dataset_yaml(key="nope"), "not one of the columns"),
    (
        "row rule on an unknown column",
        dataset_yaml({"key": "n", "label": "N"}) + "row_rules:\n  - at_least_one_of: [n, zz]\n",
        "unknown columns",
    ),
    (
        "row rule with one column",
        dataset_yaml({"key": "n", "label": "N"}) + "row_rules:\n  - at_least_one_of: [n]\n",
        "at_least_one_of",
    ),
    ("bad column key", dataset_yaml({"key": "Bad Key", "label": "N"}), "key"),
    ("bad dataset name", dataset_yaml(name="Bad-Name"), "name"),
    ("empty label", dataset_yaml({"key": "n", "label": '""'}), "label"),
    ("max_length zero", dataset_yaml({"key": "n", "label": "N", "max_length": 0}), "max_length"),
    (
        "enum default not among values",
        dataset_yaml(
            {"key": "n", "label": "N", "type": "enum", "values": "[a, b]", "default": "c"}
        ),
        "default",
    ),
    (
        "integer default over the maximum",
        dataset_yaml({"key": "n", "label": "N", "type": "integer", "maximum": 5, "default": 6}),
        "default",
    ),
    (
        "default breaking the pattern",
        dataset_yaml({"key": "n", "label": "N", "pattern": "'[0-9]+'", "default": "abc"}),
        "default",
    ),
    (
        "default longer than max_length",
        dataset_yaml({"key": "n", "label": "N", "max_length": 2, "default": "abc"}),
        "default",
    ),
    (
        "email default that is not an email",
        dataset_yaml({"key": "n", "label": "N", "type": "email", "default": "nobody"}),
        "default",
    ),
    ("not YAML", "name: [unclosed\n", "thing.yaml"),
    ("not a mapping", "- just\n- a list\n", "thing.yaml"),
    ("no columns", "name: thing\ntitle: T\nkey: id\ncolumns: []\n", "columns"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=name) for name, text, expected in BAD_DATASETS],
)
def test_bad_yaml_datasets_are_rejected_naming_the_file(text: str, expected: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_dataset(text, "thing.yaml")
    message = str(caught.value)
    assert message.startswith("thing.yaml: ")
    assert expected in message


def test_a_bad_file_in_the_directory_fails_the_registry_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(dataset_yaml({"key": "n", "label": "N", "type": "enum"}), "utf-8")
    with pytest.raises(DatasetError, match=r"broken\.yaml"):
        load_registry(tmp_path)


@pytest.mark.parametrize(
    "column",
    [
        {"key": "n", "label": "N", "type": "integer", "minimum": "abc"},
        {"key": "n", "label": "N", "type": "decimal", "maximum": "lots"},
        {"key": "n", "label": "N", "type": "date", "minimum": '"yesterday"'},
        {"key": "n", "label": "N", "type": "datetime", "maximum": "today"},
    ],
    ids=["integer-abc", "decimal-lots", "date-yesterday", "datetime-today"],
)
def test_a_bound_that_is_not_a_value_of_the_column_type_is_rejected_at_load(
    column: dict[str, Any],
) -> None:
    # Otherwise the file loads, and every import into it crashes when its row
    # validator is built (compile_converter parses the bounds).
    with pytest.raises(DatasetError, match=r"thing\.yaml"):
        parse_dataset(dataset_yaml(column), "thing.yaml")
