"""Header resolution and row validation against the built-in datasets and small ones."""

from __future__ import annotations

from datetime import date

import pytest

from loadbay.datasets.registry import builtin_datasets
from loadbay.domain.datasets import AtLeastOneOf, Column, ColumnType, Dataset
from loadbay.domain.errors import DuplicateColumns, JobFailure, MissingColumns
from loadbay.domain.rows import HeaderMap, RowValidator, resolve_header

TODAY = date(2026, 11, 22)


def builtin(name: str) -> Dataset:
    return next(d for d in builtin_datasets() if d.name == name)


@pytest.fixture(scope="module")
def user() -> Dataset:
    return builtin("user")


def validator(dataset: Dataset, header: list[str]) -> RowValidator:
    return RowValidator(dataset, resolve_header(dataset, header), TODAY)


# --- resolve_header -----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["external_id", "first_name", "email"],
        ["External ID", "First Name", "Email"],
        ["EXTERNAL_ID", "first name", "eMaIl"],
        ["  External ID ", "\tfirst_name", "email  "],
        ["external id", "FIRST_NAME", "EMAIL"],
    ],
)
def test_header_names_columns_by_key_or_label_in_any_case(user: Dataset, header: list[str]) -> None:
    mapped = resolve_header(user, header)
    assert mapped.positions == {"external_id": 0, "first_name": 1, "email": 2}
    assert mapped.labels == ("External ID", "First Name", "Email")
    assert mapped.cells == tuple(header)
    assert mapped.width == 3


def test_unknown_columns_are_kept_unchanged_in_the_labels(user: Dataset) -> None:
    header = ["Nickname", "external_id", " Shoe Size ", "First Name", "=cmd()"]
    mapped = resolve_header(user, header)
    assert mapped.labels == ("Nickname", "External ID", " Shoe Size ", "First Name", "=cmd()")
    assert mapped.positions == {"external_id": 1, "first_name": 3}
    assert mapped.width == 5


def test_missing_required_columns_are_named_by_label(user: Dataset) -> None:
    with pytest.raises(MissingColumns) as caught:
        resolve_header(user, ["email", "phone", "last_name"])
    error = caught.value
    assert error.code == "missing_columns"
    assert isinstance(error, JobFailure)
    assert "External ID" in error.message
    assert "First Name" in error.message
    assert error.message == "The header lacks required columns: External ID, First Name"


def test_one_missing_required_column(user: Dataset) -> None:
    with pytest.raises(MissingColumns, match=r"required columns: First Name$"):
        resolve_header(user, ["External ID", "Email"])


def test_missing_required_columns_of_location() -> None:
    with pytest.raises(MissingColumns) as caught:
        resolve_header(builtin("location"), ["Location Code", "Parent Location Code"])
    assert caught.value.message.endswith("Location Name, Location Type")


@pytest.mark.parametrize(
    ("header", "label"),
    [
        (["external_id", "first_name", "email", "Email"], "Email"),
        (["external_id", "first_name", "EMAIL", "email"], "Email"),
        (["External ID", "first_name", "external_id"], "External ID"),
        (["external_id", "first_name", "phone", " Phone "], "Phone"),
    ],
)
def test_a_column_named_twice_fails(user: Dataset, header: list[str], label: str) -> None:
    with pytest.raises(DuplicateColumns) as caught:
        resolve_header(user, header)
    assert caught.value.code == "duplicate_columns"
    assert f"column {label} twice" in caught.value.message


def test_duplicate_column_message_names_both_positions(user: Dataset) -> None:
    with pytest.raises(DuplicateColumns) as caught:
        resolve_header(user, ["email", "external_id", "first_name", "Email"])
    assert caught.value.message == "The header names the column Email twice (columns 1 and 4)"


def test_unknown_columns_may_repeat(user: Dataset) -> None:
    mapped = resolve_header(user, ["external_id", "first_name", "note", "note"])
    assert mapped.labels == ("External ID", "First Name", "note", "note")


# --- RowValidator -------------------------------------------------------------------

USER_HEADER = [
    "External ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Date of Birth",
    "Role",
    "Status",
]


def test_valid_row_gives_typed_values_and_no_errors(user: Dataset) -> None:
    check = validator(user, USER_HEADER)
    values, errors = check.validate(
        [
            "U1",
            "Ada",
            "Lovelace",
            "ada@example.org",
            "+441234567890",
            "1815-12-10",
            "Reviewer",
            "INACTIVE",
        ]
    )
    assert errors == []
    assert check.columns == (
        "external_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "role",
        "status",
    )
    assert values == [
        "U1",
        "Ada",
        "Lovelace",
        "ada@example.org",
        "+441234567890",
        "1815-12-10",
        "reviewer",
        "inactive",
    ]


def test_values_are_trimmed_before_checks(user: Dataset) -> None:
    check = validator(user, USER_HEADER)
    values, errors = check.validate(
        ["  U1 ", "\tAda ", " ", "  ada@example.org  ", "", " 2000-01-31 ", " member ", "active "]
    )
    assert errors == []
    assert values == ["U1", "Ada", None, "ada@example.org", None, "2000-01-31", "member", "active"]


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t", " \t "])
def test_empty_or_blank_required_cell_is_missing(user: Dataset, blank: str) -> None:
    check = validator(user, ["external_id", "first_name", "email"])
    values, errors = check.validate([blank, "Ada", "a@example.org"])
    assert errors == ["External ID: a value is required"]
    assert values[0] is None


def test_defaults_fill_empty_cells_of_present_columns(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "email", "role", "status"])
    values, errors = check.validate(["U1", "Ada", "a@example.org", "", "  "])
    assert errors == []
    assert values == ["U1", "Ada", "a@example.org", "member", "active"]


def test_defaults_do_not_replace_given_values(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "email", "role", "status"])
    values, errors = check.validate(["U1", "Ada", "a@example.org", "org_admin", "Inactive"])
    assert errors == []
    assert values[3:] == ["org_admin", "inactive"]


def test_defaults_do_not_excuse_an_invalid_value(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "email", "role"])
    values, errors = check.validate(["U1", "Ada", "a@example.org", "boss"])
    assert errors == ['Role: "boss" is not one of member, org_admin, content_creator, reviewer']
    assert values[3] is None


def test_absent_columns_with_defaults_are_added_after_named_ones(user: Dataset) -> None:
    check = validator(user, ["email", "first_name", "external_id"])
    # named columns in dataset order, then the omitted ones that have a default
    assert check.columns == ("external_id", "first_name", "email", "role", "status")
    assert check.updated_columns == ("external_id", "first_name", "email")
    assert check.key_index == 0
    values, errors = check.validate(["a@example.org", "Ada", "U1"])
    assert errors == []
    assert values == ["U1", "Ada", "a@example.org", "member", "active"]


def test_updated_columns_are_only_the_named_ones(user: Dataset) -> None:
    check = validator(user, USER_HEADER)
    assert check.updated_columns == check.columns
    check = validator(user, ["external_id", "first_name", "phone", "Nickname"])
    assert check.updated_columns == ("external_id", "first_name", "phone")
    assert check.columns == ("external_id", "first_name", "phone", "role", "status")


def test_absent_columns_without_defaults_are_left_out(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "email"])
    for key in ("last_name", "phone", "date_of_birth", "organisation_id", "location_code"):
        assert key not in check.columns


def test_unknown_columns_are_ignored(user: Dataset) -> None:
    check = validator(user, ["Shoe Size", "external_id", "first_name", "email"])
    values, errors = check.validate(["not a number", "U1", "Ada", "a@example.org"])
    assert errors == []
    assert values == ["U1", "Ada", "a@example.org", "member", "active"]


def test_key_index_points_at_the_key_column() -> None:
    organisation = builtin("organisation")
    check = validator(organisation, ["Organisation Name", "External ID"])
    assert check.columns[check.key_index] == "external_id"
    values, _ = check.validate(["Acme School", "ORG-1"])
    assert values[check.key_index] == "ORG-1"


@pytest.mark.parametrize(
    ("email", "phone", "errors"),
    [
        ("", "", ["Email or Phone: at least one is required"]),
        ("  ", " ", ["Email or Phone: at least one is required"]),
        ("a@example.org", "", []),
        ("", "+4412345678", []),
        ("a@example.org", "+4412345678", []),
        ("bob@", "", ['Email: "bob@" is not a valid email address']),
    ],
)
def test_user_needs_email_or_phone(
    user: Dataset, email: str, phone: str, errors: list[str]
) -> None:
    check = validator(user, ["external_id", "first_name", "email", "phone"])
    assert check.validate(["U1", "Ada", email, phone])[1] == errors


def test_row_rule_fails_when_the_header_has_only_one_of_the_columns(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "phone"])
    assert check.validate(["U1", "Ada", ""])[1] == ["Email or Phone: at least one is required"]
    assert check.validate(["U1", "Ada", "+4412345678"])[1] == []


def test_row_rule_fails_when_the_header_has_neither_column(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name"])
    assert check.validate(["U1", "Ada"])[1] == ["Email or Phone: at least one is required"]


def test_several_errors_in_one_row_come_in_column_order(user: Dataset) -> None:
    check = validator(user, USER_HEADER)
    values, errors = check.validate(["", "", "L" * 101, "", "0044", "2026-11-23", "chief", "gone"])
    assert errors == [
        "External ID: a value is required",
        "First Name: a value is required",
        "Last Name: is 101 characters long; at most 100 are allowed",
        'Phone: "0044" is not a valid phone number (expected + then 8 to 15 digits)',
        'Date of Birth: "2026-11-23" is in the future',
        'Role: "chief" is not one of member, org_admin, content_creator, reviewer',
        'Status: "gone" is not one of active, inactive',
    ]
    assert values == [None] * 8


def test_column_order_follows_the_dataset_not_the_header(user: Dataset) -> None:
    check = validator(user, ["Date of Birth", "Email", "First Name", "External ID"])
    _, errors = check.validate(["soon", "bob@", "Ada", "U1"])
    assert errors == [
        'Email: "bob@" is not a valid email address',
        'Date of Birth: "soon" is not a valid date (expected YYYY-MM-DD)',
    ]


def test_date_of_birth_today_is_allowed(user: Dataset) -> None:
    check = validator(user, ["external_id", "first_name", "email", "date_of_birth"])
    assert check.validate(["U1", "Ada", "a@example.org", "2026-11-22"])[1] == []


def test_location_code_rule() -> None:
    location = builtin("location")
    check = validator(location, ["Location Code", "Location Name", "Location Type"])
    assert check.validate(["KA-01_b", "Karnataka", "State"]) == (
        ["KA-01_b", "Karnataka", "state"],
        [],
    )
    _, errors = check.validate(["KA 01", "Karnataka", "country"])
    assert errors == [
        'Location Code: "KA 01" is not valid: expected letters, digits, "_" or "-"',
        'Location Type: "country" is not one of state, district, block, cluster',
    ]
    assert check.validate(["C" * 64, "x", "block"])[1] == []
    assert check.validate(["C" * 65, "x", "block"])[1] == [
        "Location Code: is 65 characters long; at most 64 are allowed"
    ]


def test_organisation_status_defaults_to_active() -> None:
    organisation = builtin("organisation")
    check = validator(organisation, ["external_id", "name"])
    assert check.columns == ("external_id", "name", "status")
    assert check.validate(["O1", "Acme"]) == (["O1", "Acme", "active"], [])


def test_a_small_dataset_with_typed_columns() -> None:
    dataset = Dataset(
        name="course",
        title="Courses",
        key="code",
        table="courses",
        columns=(
            Column("code", "Code", required=True),
            Column("seats", "Seats", ColumnType.INTEGER, minimum="1", default="10"),
            Column("paid", "Paid", ColumnType.BOOLEAN),
            Column("site", "Site", ColumnType.URL),
        ),
        row_rules=(AtLeastOneOf(("paid", "site")),),
    )
    header = resolve_header(dataset, ["CODE", "seats", "Paid"])
    assert isinstance(header, HeaderMap)
    check = RowValidator(dataset, header, TODAY)
    assert check.validate(["C1", "", "yes"]) == (["C1", 10, True], [])
    assert check.validate(["C1", "3", "no"]) == (["C1", 3, False], [])
    assert check.validate(["C1", "0", ""]) == (
        ["C1", None, None],
        ['Seats: "0" is less than the minimum 1', "Paid or Site: at least one is required"],
    )
