from __future__ import annotations

from pathlib import Path

import pytest

from bamboohr_moodle_sync.errors import ConfigError
from bamboohr_moodle_sync.mapping import DesiredUser, FieldMapping, clean_username, load_mapping
from bamboohr_moodle_sync.models import RecordFailure

DEFAULT = load_mapping(None)


def employee(**fields: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {
        "id": "7",
        "firstName": "Joanna",
        "lastName": "Smith-Jones",
        "preferredName": "",
        "workEmail": "jo.smith@acme.test",
        "status": "Active",
        "department": "Sales",
        "division": "EMEA",
    }
    base.update(fields)
    return base


def desired(**fields: str | None) -> DesiredUser:
    result = DEFAULT.desired_user(employee(**fields))
    assert isinstance(result, DesiredUser), result
    return result


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Jo+X@Acme.com", "jox@acme.com"),
        ("  O'Brien@acme.test ", "obrien@acme.test"),
        ("first last@acme.test", "firstlast@acme.test"),
        ("zoë@acme.test", "zo@acme.test"),
        ("a-b_c.d@x.io", "a-b_c.d@x.io"),
    ],
)
def test_username_is_cleaned_the_way_moodle_cleans_it(raw: str, clean: str) -> None:
    assert clean_username(raw) == clean


def test_default_mapping_fills_every_moodle_field() -> None:
    user = desired()
    assert user.fields == {
        "idnumber": "7",
        "username": "jo.smith@acme.test",
        "email": "jo.smith@acme.test",
        "firstname": "Joanna",
        "lastname": "Smith-Jones",
        "department": "Sales",
        "institution": "EMEA",
    }
    assert user.active


def test_preferred_name_wins_over_first_name_when_set() -> None:
    assert desired(preferredName="Jo").fields["firstname"] == "Jo"


def test_inactive_status_makes_an_inactive_user() -> None:
    assert not desired(status="Inactive").active


@pytest.mark.parametrize(
    ("fields", "reason_part"),
    [
        ({"workEmail": None}, "no usable workEmail"),
        ({"workEmail": "  "}, "no usable workEmail"),
        ({"workEmail": "not-an-email"}, "not a valid e-mail"),
        ({"workEmail": "a@b"}, "not a valid e-mail"),
        ({"lastName": ""}, "no usable lastname"),
        ({"workEmail": "x" * 95 + "@acme.test"}, "at most 100"),
    ],
)
def test_records_moodle_would_refuse_are_failures_naming_the_reason(
    fields: dict[str, str | None], reason_part: str
) -> None:
    result = DEFAULT.desired_user(employee(**fields))
    assert isinstance(result, RecordFailure)
    assert result.employee_id == "7"
    assert reason_part in result.reason


def test_apostrophes_in_emails_are_valid_as_in_moodle() -> None:
    assert desired(workEmail="o'brien@acme.test").email == "o'brien@acme.test"


def test_over_long_names_and_department_are_truncated_to_their_columns() -> None:
    user = desired(firstName="A" * 150, department="D" * 300)
    assert len(user.fields["firstname"]) == 100
    assert len(user.fields["department"]) == 255


def test_source_fields_ask_for_id_status_the_dates_and_every_mapped_field() -> None:
    assert DEFAULT.source_fields == sorted(
        {"id", "status", "hireDate", "terminationDate"}
        | {"workEmail", "preferredName", "firstName", "lastName", "department", "division"}
    )


def test_mapping_file_replaces_and_removes_entries(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text('[fields]\ncity = "location"\ninstitution = []\n', encoding="utf-8")
    mapping = load_mapping(path)
    user = mapping.desired_user(employee(location="Leeds"))
    assert isinstance(user, DesiredUser)
    assert user.fields["city"] == "Leeds"
    assert "institution" not in user.fields


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[fields]\npassword = "x"\n', "is not one of"),
        ("[fields]\nemail = []\n", "cannot be unmapped"),
        ("[fields]\ncity = 3\n", "must be a BambooHR field name"),
        ("[fields\n", "MAPPING_FILE"),
        ('[cohort]\ndepartment = "Department: {value}"\n', r"unknown section\(s\) \['cohort'\]"),
        ('username = "workEmail"\n', r"unknown section\(s\) \['username'\]"),
    ],
)
def test_bad_mapping_files_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_mapping(path)


def test_custom_mapping_keeps_idnumber_as_the_employee_id() -> None:
    mapping = FieldMapping(
        {"username": ("homeEmail",), "email": ("homeEmail",), "firstname": ("firstName",), "lastname": ("lastName",)}
    )
    user = mapping.desired_user(employee(homeEmail="jo@home.test"))
    assert isinstance(user, DesiredUser)
    assert user.fields["idnumber"] == "7"


def test_an_invalid_email_is_named_by_its_field_and_its_value_kept_apart() -> None:
    result = DEFAULT.desired_user(employee(workEmail="jo.bloggs@@acme.test"))
    assert isinstance(result, RecordFailure)
    assert "jo.bloggs" not in result.reason
    assert result.personal == "workEmail 'jo.bloggs@@acme.test'"


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_fields_and_cohorts_are_read_with_their_types(tmp_path: Path) -> None:
    path = mapping_file(
        tmp_path,
        '[profile_fields]\njobtitle = "jobTitle"\nhiredate = { from = "hireDate", type = "datetime" }\n'
        '[cohorts]\ndepartment = "Department: {value}"\n[cohort_settings]\nleavers = "remove"\n',
    )
    mapping = load_mapping(path)
    assert [(p.shortname, p.source, p.type) for p in mapping.profile_fields] == [
        ("jobtitle", "jobTitle", "text"),
        ("hiredate", "hireDate", "datetime"),
    ]
    assert [(r.field, r.template) for r in mapping.cohorts] == [("department", "Department: {value}")]
    assert mapping.leavers == "remove"
    assert {"jobTitle", "hireDate", "department"} <= set(mapping.source_fields)


def test_without_the_new_sections_nothing_is_mapped_and_leavers_are_kept() -> None:
    assert (DEFAULT.profile_fields, DEFAULT.cohorts, DEFAULT.leavers) == ((), (), "keep")
    assert (desired().profile, desired().cohorts) == ({}, {})


@pytest.mark.parametrize(
    "text",
    [
        '[profile_fields]\n"job title" = "jobTitle"\n',
        '[profile_fields]\nhiredate = { from = "hireDate", type = "date" }\n',
        '[cohorts]\ndepartment = "Department"\n',
        '[cohort_settings]\nleavers = "delete"\n',
    ],
    ids=["shortname-with-space", "unknown-type", "template-without-value", "unknown-leavers"],
)
def test_a_malformed_new_section_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="MAPPING_FILE"):
        load_mapping(mapping_file(tmp_path, text))


@pytest.mark.parametrize(
    ("hire_date", "sent"),
    [("2024-07-01", "2024-07-01"), ("0000-00-00", ""), ("", ""), (None, "")],
)
def test_a_bamboohr_date_is_sent_as_that_date_and_an_empty_one_clears(
    tmp_path: Path, hire_date: str | None, sent: str
) -> None:
    mapping = load_mapping(mapping_file(tmp_path, '[profile_fields]\nd = { from = "hireDate", type = "datetime" }\n'))
    user = mapping.desired_user(employee(hireDate=hire_date))
    assert isinstance(user, DesiredUser) and (user.profile, user.warnings) == ({"d": sent}, ())


def test_a_date_that_is_not_a_date_is_left_out_with_a_warning_naming_the_field_not_the_value(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_file(tmp_path, '[profile_fields]\nd = { from = "hireDate", type = "datetime" }\n'))
    user = mapping.desired_user(employee(hireDate="15/01/2024"))
    assert isinstance(user, DesiredUser) and user.profile == {}
    assert "hireDate" in user.warnings[0] and "15/01" not in user.warnings[0]


MENU = '[profile_fields]\noffice = { from = "location", type = "menu", options = ["London", "Remote"] }\n'


def test_a_menu_field_is_read_with_its_options(tmp_path: Path) -> None:
    (office,) = load_mapping(mapping_file(tmp_path, MENU)).profile_fields
    assert (office.shortname, office.source, office.type, office.options) == (
        "office",
        "location",
        "menu",
        ("London", "Remote"),
    )


@pytest.mark.parametrize(
    "spec",
    [
        '{ from = "location", type = "menu" }',
        '{ from = "location", type = "menu", options = [] }',
        '{ from = "location", type = "menu", options = "London" }',
        '{ from = "location", type = "menu", options = ["London", 3] }',
        '{ from = "location", type = "menu", options = ["London", ""] }',
        '{ from = "location", options = ["London"] }',
        '{ from = "hireDate", type = "datetime", options = ["London"] }',
    ],
    ids=["menu-without-options", "empty", "not-a-list", "not-a-string", "blank-option", "text", "datetime"],
)
def test_options_are_required_for_a_menu_and_refused_for_other_types(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigError, match=r"profile field 'office'.*options"):
        load_mapping(mapping_file(tmp_path, f"[profile_fields]\noffice = {spec}\n"))


@pytest.mark.parametrize(("location", "sent"), [("London", "London"), (" Remote ", "Remote"), ("", ""), (None, "")])
def test_a_menu_value_that_is_an_option_is_sent_and_an_empty_one_clears(
    tmp_path: Path, location: str | None, sent: str
) -> None:
    user = load_mapping(mapping_file(tmp_path, MENU)).desired_user(employee(location=location))
    assert isinstance(user, DesiredUser) and (user.profile, user.warnings) == ({"office": sent}, ())


@pytest.mark.parametrize("location", ["Paris", "london", "London (HQ)"])
def test_a_menu_value_that_is_not_an_option_is_left_out_with_a_warning_naming_the_field_not_the_value(
    tmp_path: Path, location: str
) -> None:
    user = load_mapping(mapping_file(tmp_path, MENU)).desired_user(employee(location=location))
    assert isinstance(user, DesiredUser) and user.profile == {}
    (warning,) = user.warnings
    assert "location" in warning and "office" in warning and location not in warning


def test_cohort_values_are_trimmed_and_an_overlong_idnumber_gets_a_stable_hash_suffix(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_file(tmp_path, '[cohorts]\ndepartment = "Department: {value}"\n'))
    user = mapping.desired_user(employee(department="  Sales "))
    assert isinstance(user, DesiredUser) and user.cohorts == {"department": "Sales"}
    (rule,) = mapping.cohorts
    assert rule.idnumber("Sales") == "bamboohr:department:Sales"
    long_a, long_b = rule.idnumber("x" * 200), rule.idnumber("x" * 199 + "y")
    assert len(long_a) == len(long_b) == 100 and long_a != long_b and long_a == rule.idnumber("x" * 200)
    assert rule.owns(long_a) and rule.name("Sales") == "Department: Sales"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('scope = "everyone"\n', r"\[scope\] must be a table"),
        ('[scope]\nonly = { department = ["Sales"] }\n', r"\[scope\] must be a table with include and/or exclude"),
        ('[scope]\ninclude = ["Full-Time"]\n', r"include must be a table"),
        ('[scope]\ninclude = { employmentHistoryStatus = "Full-Time" }\n', r"include.employmentHistoryStatus must"),
        ("[scope]\nexclude = { department = [] }\n", r"exclude.department must be a non-empty list of strings"),
        ("[scope]\nexclude = { department = [1, 2] }\n", r"exclude.department must be a non-empty list"),
    ],
)
def test_a_bad_scope_is_a_config_error_naming_the_rule(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_mapping(path)


def test_scope_is_read_trimmed_and_its_fields_are_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(
        '[scope]\ninclude = { employmentHistoryStatus = [" Full-Time", "Part-Time"] }\n'
        'exclude = { department = ["Contractors"] }\n',
        encoding="utf-8",
    )
    mapping = load_mapping(path)
    assert mapping.scope.include == {"employmentHistoryStatus": frozenset({"Full-Time", "Part-Time"})}
    assert mapping.scope.exclude == {"department": frozenset({"Contractors"})}
    assert {"employmentHistoryStatus", "department"} <= set(mapping.source_fields)


def test_no_scope_puts_everyone_in_scope(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text('[fields]\ncity = "location"\n', encoding="utf-8")
    assert load_mapping(path).scope.outside({"id": "1", "department": "Contractors"}) is None
