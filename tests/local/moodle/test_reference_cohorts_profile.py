"""The reference's "Custom profile fields" and "Cohorts" lines (real Moodle 4.5.6, Europe/London), replayed on the
emulator with the default profile field definitions (jobtitle text, hiredate datetime, office menu)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from bamboohr_moodle_sync.local.moodle.profile import FieldDefinition
from tests.local.moodle.test_reference import person, post

if TYPE_CHECKING:
    from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle

SYSTEM = {"type": "system", "value": ""}


def create(moodle: RunningMoodle, username: str, **custom: str) -> int:
    fields = [{"type": k, "value": v} for k, v in custom.items()]
    answer = post(moodle, "core_user_create_users", users=[person(username, createpassword=1, customfields=fields)])
    return int(answer.json()[0]["id"])


def custom(moodle: RunningMoodle, user_id: int) -> dict[str, dict[str, Any]]:
    (user,) = post(moodle, "core_user_get_users_by_field", field="id", values=[user_id]).json()
    return {c["shortname"]: c for c in user.get("customfields", [])}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1705320000", "1705276800"),  # 2024-01-15 12:00Z
        ("1719835200", "1719788400"),  # 2024-07-01 12:00Z -> midnight BST
        ("1719876600", "1719874800"),  # 2024-07-01 23:30Z is 2 July in London
        ("2024-01-15", "1705276800"),
    ],
)
def test_a_date_only_field_stores_midnight_of_the_date_in_the_site_time_zone(
    moodle: RunningMoodle, sent: str, stored: str
) -> None:
    user_id = create(moodle, "ann", hiredate=sent)
    assert custom(moodle, user_id)["hiredate"]["value"] == stored
    assert custom(moodle, user_id)["hiredate"]["type"] == "datetime"


def test_an_unparsable_date_is_accepted_and_stored_as_a_wrong_date(moodle: RunningMoodle) -> None:
    user_id = create(moodle, "ann", hiredate="15/01/2024")
    assert custom(moodle, user_id)["hiredate"]["value"] not in ("", "1705276800")


@pytest.mark.parametrize("cleared", ["0", ""])
def test_zero_or_empty_clears_a_date_and_the_empty_field_is_left_out(moodle: RunningMoodle, cleared: str) -> None:
    user_id = create(moodle, "ann", hiredate="2024-01-15", jobtitle="Analyst")
    post(
        moodle,
        "core_user_update_users",
        users=[{"id": user_id, "customfields": [{"type": "hiredate", "value": cleared}]}],
    )
    assert set(custom(moodle, user_id)) == {"jobtitle"}


def test_an_unknown_shortname_is_ignored_and_the_last_of_two_wins(moodle: RunningMoodle) -> None:
    fields = [{"type": "nosuch", "value": "x"}, {"type": "jobtitle", "value": "A"}, {"type": "jobtitle", "value": "B"}]
    answer = post(moodle, "core_user_create_users", users=[person("ann", createpassword=1, customfields=fields)])
    assert custom(moodle, int(answer.json()[0]["id"]))["jobtitle"]["value"] == "B"


def test_a_menu_value_that_is_no_option_is_dropped_on_create_and_clears_on_update(moodle: RunningMoodle) -> None:
    user_id = create(moodle, "ann", office="Paris")
    assert "office" not in custom(moodle, user_id)
    post(
        moodle,
        "core_user_update_users",
        users=[{"id": user_id, "customfields": [{"type": "office", "value": "London"}]}],
    )
    assert custom(moodle, user_id)["office"]["value"] == "London"
    post(
        moodle,
        "core_user_update_users",
        users=[{"id": user_id, "customfields": [{"type": "office", "value": "london"}]}],
    )
    assert "office" not in custom(moodle, user_id)


def set_office(moodle: RunningMoodle, user_id: int, value: str) -> None:
    post(
        moodle, "core_user_update_users", users=[{"id": user_id, "customfields": [{"type": "office", "value": value}]}]
    )


def test_an_empty_menu_value_clears_the_field(moodle: RunningMoodle) -> None:
    user_id = create(moodle, "ann", office="London")
    set_office(moodle, user_id, "")
    assert "office" not in custom(moodle, user_id)


# Source only (user/profile/field/menu/field.class.php, profile_field_base::edit_save_data): a value that is not an
# option becomes the field's default; "" is an option of a required field.
def test_a_menu_value_that_is_no_option_stores_the_field_s_default_on_create_and_update(served: RunningMoodle) -> None:
    office = FieldDefinition("menu", "Office", ("London", "Remote"), default="Remote")
    moodle = served.fresh(profile_fields={"office": office})
    user_id = create(moodle, "ann", office="Paris")
    assert custom(moodle, user_id)["office"]["value"] == "Remote"
    set_office(moodle, user_id, "London")
    set_office(moodle, user_id, "")
    assert custom(moodle, user_id)["office"]["value"] == "Remote"


def test_an_empty_value_clears_a_required_menu_field_with_a_default(served: RunningMoodle) -> None:
    office = FieldDefinition("menu", "Office", ("London", "Remote"), default="Remote", required=True)
    moodle = served.fresh(profile_fields={"office": office})
    user_id = create(moodle, "ann", office="London")
    set_office(moodle, user_id, "")
    assert "office" not in custom(moodle, user_id)


def test_get_cohorts_without_ids_answers_every_cohort_in_id_order(moodle: RunningMoodle) -> None:
    ids = [moodle.emulator.add_cohort(name, f"id-{name}") for name in ("b", "a")]
    answer = post(moodle, "core_cohort_get_cohorts").json()
    assert [(c["id"], c["customfields"]) for c in answer] == [(ids[0], []), (ids[1], [])]
    assert [c["id"] for c in post(moodle, "core_cohort_get_cohorts", cohortids=[ids[1], 999]).json()] == [ids[1]]


def test_cohort_idnumbers_are_unique_case_sensitively_and_at_most_100_characters(moodle: RunningMoodle) -> None:
    def cohort(idnumber: str) -> dict[str, Any]:
        return {"categorytype": SYSTEM, "name": "N", "idnumber": idnumber}

    assert post(moodle, "core_cohort_create_cohorts", cohorts=[cohort("bamboohr:x")]).ok
    assert len(post(moodle, "core_cohort_create_cohorts", cohorts=[cohort("BAMBOOHR:x")]).json()) == 1
    too_long = post(moodle, "core_cohort_create_cohorts", cohorts=[cohort("x" * 101)]).json()
    assert too_long["errorcode"] == "dmlwriteexception"
    twice = post(moodle, "core_cohort_create_cohorts", cohorts=[cohort("y"), cohort("y")]).json()
    assert twice["errorcode"] == "invalidparameter"
    assert {c["idnumber"] for c in moodle.emulator.cohorts()} == {"bamboohr:x", "BAMBOOHR:x"}


def test_members_come_per_requested_cohort_and_an_unknown_one_fails_the_call(moodle: RunningMoodle) -> None:
    first, second = moodle.emulator.add_cohort("A", "a"), moodle.emulator.add_cohort("B", "b")
    zed, abe = moodle.emulator.add_user("zed", lastname="Zed"), moodle.emulator.add_user("abe", lastname="Abe")
    members = [
        {"cohorttype": {"type": "id", "value": first}, "usertype": {"type": "id", "value": u}} for u in (zed, abe)
    ]
    post(moodle, "core_cohort_add_cohort_members", members=members)
    answer = post(moodle, "core_cohort_get_cohort_members", cohortids=[second, first]).json()
    assert answer == [{"cohortid": second, "userids": []}, {"cohortid": first, "userids": [abe, zed]}]
    assert post(moodle, "core_cohort_get_cohort_members", cohortids=[first, 999]).json()["errorcode"] == "invalidrecord"


def test_adding_a_member_twice_or_by_idnumber_warns_and_keeps_the_valid_ones(moodle: RunningMoodle) -> None:
    cohort, ann = moodle.emulator.add_cohort("A", "a"), moodle.emulator.add_user("ann", idnumber="7")

    def member(kind: str, value: object) -> dict[str, Any]:
        return {"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": kind, "value": value}}

    answer = post(
        moodle,
        "core_cohort_add_cohort_members",
        members=[member("id", ann), member("id", ann), member("idnumber", "7")],
    )
    assert [w["warningcode"] for w in answer.json()["warnings"]] == ["3", "1"]
    assert moodle.emulator.cohort_members(cohort) == {ann}


def test_removing_an_unknown_user_rolls_back_the_removals_before_it(moodle: RunningMoodle) -> None:
    cohort, ann = moodle.emulator.add_cohort("A", "a"), moodle.emulator.add_user("ann")
    post(
        moodle,
        "core_cohort_add_cohort_members",
        members=[{"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": "id", "value": ann}}],
    )
    answer = post(
        moodle,
        "core_cohort_delete_cohort_members",
        members=[{"cohortid": cohort, "userid": ann}, {"cohortid": cohort, "userid": 999}],
    )
    assert (answer.json()["errorcode"], answer.json()["message"]) == ("invaliduser", "Invalid user")
    assert moodle.emulator.cohort_members(cohort) == {ann}


def test_update_cohorts_renames_without_checking_idnumbers_and_refuses_an_empty_name(moodle: RunningMoodle) -> None:
    first, second = moodle.emulator.add_cohort("A", "a"), moodle.emulator.add_cohort("B", "b")
    renamed = {"id": second, "categorytype": SYSTEM, "name": "New", "idnumber": "a"}
    assert post(moodle, "core_cohort_update_cohorts", cohorts=[renamed]).json() is None
    assert sorted((c["name"], c["idnumber"]) for c in moodle.emulator.cohorts()) == [("A", "a"), ("New", "a")]
    empty = post(moodle, "core_cohort_update_cohorts", cohorts=[renamed | {"id": first, "name": ""}]).json()
    assert empty["errorcode"] == "invalidparameter"
