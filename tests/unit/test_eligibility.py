"""Who should have an account today: scope, start and end dates (the pure rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bamboohr_moodle_sync.eligibility import Eligibility, Scope, read_date, today_in

TODAY = date(2026, 3, 10)
SCOPE = Scope(
    include={"employmentHistoryStatus": frozenset({"Full-Time", "Part-Time"})},
    exclude={"department": frozenset({"Contractors"})},
)


def employee(**fields: str | None) -> dict[str, str | None]:
    return {"id": "7", "status": "Active", "employmentHistoryStatus": "Full-Time", "department": "Sales", **fields}


def standing(rules: Eligibility, **fields: str | None) -> str:
    return rules.of(employee(**fields)).standing


def test_an_employee_with_an_included_value_is_in_scope() -> None:
    assert standing(Eligibility(SCOPE), employmentHistoryStatus="Part-Time") == "active"


def test_an_employee_without_an_included_value_is_a_leaver_naming_the_field() -> None:
    verdict = Eligibility(SCOPE).of(employee(employmentHistoryStatus="Intern"))
    assert verdict.standing == "leaver"
    assert verdict.reason == "out of scope: employmentHistoryStatus has none of the included values"


def test_an_empty_value_is_not_included() -> None:
    assert standing(Eligibility(SCOPE), employmentHistoryStatus=None) == "leaver"


def test_exclude_wins_over_include() -> None:
    verdict = Eligibility(SCOPE).of(employee(department="Contractors"))
    assert (verdict.standing, verdict.reason) == ("leaver", "out of scope: department 'Contractors' is excluded")


def test_values_compare_after_trimming_but_exactly() -> None:
    assert standing(Eligibility(SCOPE), employmentHistoryStatus="  Full-Time ") == "active"
    assert standing(Eligibility(SCOPE), employmentHistoryStatus="full-time") == "leaver"


def test_any_listed_include_field_lets_an_employee_in() -> None:
    scope = Scope(include={"department": frozenset({"Sales"}), "division": frozenset({"Europe"})})
    assert standing(Eligibility(scope), department="Legal", division="Europe") == "active"


def test_no_scope_leaves_bamboohr_status_to_decide() -> None:
    assert standing(Eligibility(), department="Contractors") == "active"
    assert standing(Eligibility(), status="Inactive") == "leaver"


def test_a_passed_termination_date_makes_an_active_employee_a_leaver() -> None:
    verdict = Eligibility(today=TODAY).of(employee(terminationDate="2026-03-09"))
    assert (verdict.standing, verdict.reason) == ("leaver", "terminationDate has passed")


def test_the_termination_day_itself_is_still_a_working_day() -> None:
    assert standing(Eligibility(today=TODAY), terminationDate="2026-03-10") == "active"


def test_a_termination_before_the_hire_date_is_an_earlier_employment_and_ends_nothing() -> None:
    rules = Eligibility(today=TODAY)
    assert standing(rules, hireDate="2026-02-01", terminationDate="2025-06-30") == "active"


@pytest.mark.parametrize("empty", ["0000-00-00", "", "  ", None, "not a date"])
def test_an_empty_or_unreadable_date_is_no_date(empty: str | None) -> None:
    rules = Eligibility(today=TODAY, provision_days=3)
    assert standing(rules, hireDate=empty, terminationDate=empty) == "active"


def test_without_a_day_the_date_rules_are_off() -> None:
    assert standing(Eligibility(), terminationDate="2020-01-01") == "active"


def test_without_provision_days_a_future_hire_waits_for_bamboohr_status() -> None:
    rules = Eligibility(today=TODAY)
    assert standing(rules, status="Inactive", hireDate="2026-03-12") == "leaver"
    assert standing(rules, status="Active", hireDate="2026-04-30") == "active"


def test_a_hire_more_than_n_days_ahead_is_not_yet_due_naming_the_due_date() -> None:
    verdict = Eligibility(today=TODAY, provision_days=3).of(employee(hireDate="2026-03-14"))
    assert verdict.standing == "not_yet"
    assert "account due on 2026-03-11" in verdict.reason


def test_a_hire_is_due_on_the_day_n_days_before_the_start() -> None:
    assert standing(Eligibility(today=TODAY, provision_days=3), hireDate="2026-03-13") == "active"


def test_a_due_future_hire_gets_an_account_while_bamboohr_still_says_inactive() -> None:
    rules = Eligibility(today=TODAY, provision_days=3)
    assert standing(rules, status="Inactive", hireDate="2026-03-12") == "active"


def test_a_hire_starting_today_and_still_inactive_is_due_with_zero_days() -> None:
    assert standing(Eligibility(today=TODAY, provision_days=0), status="Inactive", hireDate="2026-03-10") == "active"


def test_an_inactive_future_hire_with_an_earlier_termination_waits_for_bamboohr_status() -> None:
    rules = Eligibility(today=TODAY, provision_days=3)
    fields = {"status": "Inactive", "hireDate": "2026-03-12", "terminationDate": "2026-03-01"}
    assert standing(rules, **fields) == "leaver"


def test_a_past_hire_is_judged_by_status_whatever_the_provision_days() -> None:
    rules = Eligibility(today=TODAY, provision_days=3)
    assert standing(rules, status="Inactive", hireDate="2026-03-09") == "leaver"


def test_out_of_scope_wins_over_a_due_start() -> None:
    rules = Eligibility(SCOPE, TODAY, provision_days=3)
    assert standing(rules, hireDate="2026-03-11", department="Contractors") == "leaver"


def test_the_rules_ask_bamboohr_for_status_the_dates_and_the_scope_fields() -> None:
    assert Eligibility(SCOPE).fields == [
        "department",
        "employmentHistoryStatus",
        "hireDate",
        "status",
        "terminationDate",
    ]


def test_today_is_the_calendar_day_of_the_configured_zone_across_midnight() -> None:
    moment = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert today_in(moment, "UTC") == date(2026, 3, 10)
    assert today_in(moment, "Europe/Berlin") == date(2026, 3, 11)
    assert today_in(datetime(2026, 3, 10, 3, 0, tzinfo=UTC), "America/Los_Angeles") == date(2026, 3, 9)


def test_a_hire_due_tomorrow_in_utc_is_due_today_east_of_it() -> None:
    moment = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    hire = {"hireDate": "2026-03-14"}
    assert standing(Eligibility(today=today_in(moment, "UTC"), provision_days=3), **hire) == "not_yet"
    assert standing(Eligibility(today=today_in(moment, "Asia/Tokyo"), provision_days=3), **hire) == "active"


def test_read_date_reads_bamboohr_dates_only() -> None:
    assert read_date(" 2026-03-10 ") == date(2026, 3, 10)
    assert read_date("2026-3-10") is None
