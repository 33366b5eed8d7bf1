"""The seeded employee generator: deterministic, realistic and full of the awkward cases a sync must handle."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from bamboohr_moodle_sync.local.bamboohr.employees import (
    DEPARTMENTS,
    DIVISIONS,
    JOB_TITLES_BY_DEPARTMENT,
    LOCATIONS,
    email_local_part,
    generate_employees,
)

HIRE_BEFORE = date(2026, 1, 1)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def people() -> list[dict[str, str | None]]:
    return generate_employees(1000, seed=0, hire_before=HIRE_BEFORE)


def test_same_seed_same_employees_other_seed_others() -> None:
    assert generate_employees(50, seed=3) == generate_employees(50, seed=3) != generate_employees(50, seed=4)


@pytest.mark.parametrize("name", ["Zoë", "Nguyễn", "Łukasz", "José", "O'Brien", "Smith-Jones"])
def test_names_include_unicode_apostrophes_and_hyphens(people: list[dict[str, str | None]], name: str) -> None:
    assert any(name in (p["firstName"], p["lastName"]) for p in people)


@pytest.mark.parametrize(
    ("trait", "low", "high"),
    [("no_work_email", 10, 30), ("inactive", 40, 80), ("preferred_name", 50, 150), ("plus_email", 5, 40),
     ("uppercase_email", 5, 50)],
)  # fmt: skip
def test_trait_frequencies_are_realistic(people: list[dict[str, str | None]], trait: str, low: int, high: int) -> None:
    emails = [p["workEmail"] or "" for p in people]
    counts = {
        "no_work_email": sum(1 for p in people if p["workEmail"] is None),
        "inactive": sum(1 for p in people if p["status"] == "Inactive"),
        "preferred_name": sum(1 for p in people if p["preferredName"]),
        "plus_email": sum(1 for e in emails if "+" in e),
        "uppercase_email": sum(1 for e in emails if e != e.lower()),
    }
    assert low <= counts[trait] <= high


def test_about_one_percent_share_a_work_email(people: list[dict[str, str | None]]) -> None:
    shared = [email for email, n in Counter(p["workEmail"] for p in people if p["workEmail"]).items() if n > 1]
    assert 5 <= len(shared) <= 15


def test_terminated_employees_are_inactive_with_a_termination_date_after_hire(
    people: list[dict[str, str | None]],
) -> None:
    terminated = [p for p in people if p["terminationDate"] and p["terminationDate"] < HIRE_BEFORE.isoformat()]
    assert terminated
    assert all(p["status"] == "Inactive" and (p["hireDate"] or "") < (p["terminationDate"] or "") for p in terminated)
    assert all((p["terminationDate"] or "") < HIRE_BEFORE.isoformat() for p in terminated)


def test_employment_statuses_are_mostly_full_time_and_terminated_once_terminated(
    people: list[dict[str, str | None]],
) -> None:
    statuses = Counter(p["employmentHistoryStatus"] for p in people if p["status"] == "Active")
    assert set(statuses) == {"Full-Time", "Part-Time", "Contractor", "Intern"}
    assert statuses["Full-Time"] > sum(statuses.values()) // 2
    assert {p["employmentHistoryStatus"] for p in people if p["status"] == "Inactive" and p["terminationDate"]} == {
        "Terminated"
    }


def test_a_few_active_employees_have_their_termination_scheduled_a_month_or_more_ahead(
    people: list[dict[str, str | None]],
) -> None:
    scheduled = [p for p in people if p["status"] == "Active" and p["terminationDate"]]
    assert 5 <= len(scheduled) <= 40
    assert min(p["terminationDate"] or "" for p in scheduled) >= date(2026, 1, 31).isoformat()


def test_future_hires_are_inactive_until_their_start(people: list[dict[str, str | None]]) -> None:
    future = [p for p in people if (p["hireDate"] or "") > HIRE_BEFORE.isoformat()]
    assert future
    assert all(p["status"] == "Inactive" and p["terminationDate"] is None for p in future)


def test_values_come_from_small_realistic_lists(people: list[dict[str, str | None]]) -> None:
    for p in people:
        assert p["department"] in DEPARTMENTS
        assert p["division"] in DIVISIONS
        assert p["location"] in LOCATIONS
        assert p["jobTitle"] in JOB_TITLES_BY_DEPARTMENT[p["department"] or ""]
        assert DATE.fullmatch(p["hireDate"] or "")


def test_employee_numbers_are_unique(people: list[dict[str, str | None]]) -> None:
    assert len({p["employeeNumber"] for p in people}) == len(people)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [("Zoë", "Nguyễn", "zoe.nguyen"), ("Łukasz", "O'Brien", "lukasz.obrien"),
     ("José", "Smith-Jones", "jose.smith-jones"), ("Søren", "van der Berg", "soren.vanderberg")],
)  # fmt: skip
def test_email_local_part_is_ascii(first: str, last: str, expected: str) -> None:
    assert email_local_part(first, last) == expected
