"""The pure membership plan: what a batch's employees should be in, against what the owned cohorts hold."""

from __future__ import annotations

import pytest

from bamboohr_moodle_sync.mapping import CohortRule
from bamboohr_moodle_sync.memberships import Member, OwnedCohort, owned, plan_memberships
from bamboohr_moodle_sync.plan import same_date

RULES = (CohortRule("department", "Department: {value}"), CohortRule("location", "Location: {value}"))
SALES = OwnedCohort(10, "bamboohr:department:Sales", "Department: Sales")
OPS = OwnedCohort(11, "bamboohr:department:Ops", "Department: Ops")
LONDON = OwnedCohort(12, "bamboohr:location:London", "Location: London")
COHORTS = {c.idnumber: c for c in (SALES, OPS, LONDON)}


def member(user_id: int | None, department: str = "Sales", location: str = "London", active: bool = True) -> Member:
    return Member(f"e{user_id}", user_id, active, {"department": department, "location": location})


def test_a_mover_is_added_to_the_new_cohort_and_removed_from_the_old_one_of_the_same_rule() -> None:
    plan = plan_memberships([member(1, "Ops")], RULES, "keep", COHORTS, {10: {1}, 12: {1}})
    assert [(c.idnumber, c.cohort_id) for c in plan.add] == [("bamboohr:department:Ops", 11)]
    assert [(c.idnumber, c.user_id) for c in plan.remove] == [("bamboohr:department:Sales", 1)]


def test_a_member_in_the_right_cohorts_needs_nothing() -> None:
    plan = plan_memberships([member(1)], RULES, "keep", COHORTS, {10: {1}, 12: {1}})
    assert (plan.add, plan.remove, plan.create, plan.rename) == ([], [], [], [])


def test_an_empty_value_means_none_of_that_rule_s_cohorts() -> None:
    plan = plan_memberships([member(1, department="")], RULES, "keep", COHORTS, {10: {1}, 12: {1}})
    assert ([c.idnumber for c in plan.remove], plan.add) == (["bamboohr:department:Sales"], [])


def test_a_value_without_a_cohort_creates_it_once_for_every_member_needing_it() -> None:
    plan = plan_memberships([member(None, "Legal"), member(2, "Legal")], RULES, "keep", COHORTS, {12: {2}})
    assert plan.create == [("bamboohr:department:Legal", "Department: Legal")]
    assert [(c.employee_id, c.cohort_id) for c in plan.add if "Legal" in c.idnumber] == [("eNone", None), ("e2", None)]


@pytest.mark.parametrize(("leavers", "removed"), [("keep", []), ("remove", [10, 12])])
def test_a_suspended_account_keeps_or_loses_every_owned_membership(leavers: str, removed: list[int]) -> None:
    plan = plan_memberships([member(1, active=False)], RULES, leavers, COHORTS, {10: {1}, 12: {1}})  # type: ignore[arg-type]
    assert [c.cohort_id for c in plan.remove] == removed
    assert plan.add == []


def test_a_cohort_left_without_members_is_reported_not_deleted() -> None:
    plan = plan_memberships([member(1, "Ops")], RULES, "keep", COHORTS, {10: {1}, 11: set(), 12: {1}})
    assert plan.emptied == ["bamboohr:department:Sales"]


def test_a_renamed_template_renames_the_cohorts_the_batch_maps_to() -> None:
    rules = (CohortRule("department", "Dept {value}"), RULES[1])
    plan = plan_memberships([member(1)], rules, "keep", COHORTS, {10: {1}, 12: {1}})
    assert plan.rename == [(SALES, "Dept Sales")]


def test_only_cohorts_with_the_prefix_of_a_configured_rule_are_owned() -> None:
    found = [SALES, OwnedCohort(1, "mentors", "Mentors"), OwnedCohort(2, "bamboohr:division:EU", "EU")]
    assert list(owned(found, RULES)) == ["bamboohr:department:Sales"]


def test_of_two_cohorts_sharing_an_owned_idnumber_the_lower_id_is_owned_as_an_addition_by_idnumber_picks() -> None:
    twin = OwnedCohort(5, SALES.idnumber, "Department: Sales (copy)")
    assert owned([SALES, twin], RULES)[SALES.idnumber] == twin


@pytest.mark.parametrize(
    ("moodle_value", "wanted", "same"),
    [
        ("1719788400", "2024-07-01", True),  # midnight in London (BST)
        ("1719784800", "2024-07-01", True),  # midnight in Berlin (CEST)
        ("1719748800", "2024-07-01", True),  # midnight in Auckland (NZST, +12)
        ("1719828000", "2024-07-01", True),  # midnight in Honolulu (-10)
        ("1719874800", "2024-07-01", False),  # 2 July in London
        ("1719702000", "2024-07-01", False),  # 30 June in London
        ("", "", True),
        ("0", "", True),
        ("1719788400", "", False),
        ("", "2024-07-01", False),
    ],
)
def test_a_moodle_date_is_compared_as_a_calendar_date_whatever_the_site_time_zone(
    moodle_value: str, wanted: str, same: bool
) -> None:
    assert same_date(moodle_value, wanted) is same
